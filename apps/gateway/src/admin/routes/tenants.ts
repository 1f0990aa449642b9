/**
 * Tenants, their bindings to the dialects' namespaces (and links between them), their credentials.
 *
 *   GET    /admin/tenants                          tenants with their bindings
 *   POST   /admin/tenants                          {name}
 *   GET    /admin/tenants/{tenant}                 one tenant with its bindings
 *   GET    /admin/tenants/{tenant}/bindings        OVH domain / Huawei project / CSE instance
 *   POST   /admin/tenants/{tenant}/links           {dialect, id}: one tenant, several vendors' namespaces
 *   GET    /admin/tenants/{tenant}/credentials     every dialect's credentials and tokens (no secrets)
 */
import type { Hono } from 'hono';
import type { Kms } from '@polykms/core';
import { listCredentials, tenantTokens } from '@polykms/ovh';
import { CreateTenant, Link } from '../schemas.ts';
import { body, findTenant, iso, type AdminEnv } from '../request.ts';

export function tenantRoutes(app: Hono<AdminEnv>, kms: Kms) {
  const bindingsOf = async (tenantIds?: string[]) => {
    const rows = await kms.tenants.bindingsOf(tenantIds);
    return rows.map((b) => ({
      tenantId: b.tenant_id,
      dialect: b.dialect,
      externalId: b.external_id,
      attributes: b.attributes ?? {},
      createdAt: iso(b.created_at),
    }));
  };
  const tenantView = (
    t: { id: string; name: string; created_at?: Date | undefined },
    bindings: Awaited<ReturnType<typeof bindingsOf>>,
  ) => ({
    id: t.id,
    name: t.name,
    createdAt: iso(t.created_at),
    bindings: bindings.filter((b) => b.tenantId === t.id).map(({ tenantId: _, ...b }) => b),
  });

  app.get('/admin/tenants', async (c) => {
    const [tenants, bindings] = await Promise.all([kms.tenants.list(), bindingsOf()]);
    return c.json({ tenants: tenants.map((t) => tenantView(t, bindings)) });
  });
  app.post('/admin/tenants', async (c) => {
    const req = await body(c, CreateTenant);
    const t = await kms.tenants.create(req.name);
    await kms.audit.record({
      at: new Date(),
      tenantId: t.id,
      dialect: 'admin',
      principal: 'admin-console',
      action: 'tenant.create',
      keyId: null,
      outcome: 'allowed',
      details: { name: t.name },
    });
    return c.json(tenantView(await findTenant(kms, t.id), []), 201);
  });

  // Everything under one tenant: resolve it once (id or name); unknown is 404.
  app.use('/admin/tenants/:tenant/*', async (c, next) => {
    c.set('tenant', await findTenant(kms, c.req.param('tenant')!));
    await next();
  });
  app.get('/admin/tenants/:tenant', async (c) => {
    const t = await findTenant(kms, c.req.param('tenant'));
    return c.json(tenantView(t, await bindingsOf([t.id])));
  });
  app.get('/admin/tenants/:tenant/bindings', async (c) =>
    c.json({ bindings: (await bindingsOf([c.get('tenant').id])).map(({ tenantId: _, ...b }) => b) }),
  );

  app.get('/admin/tenants/:tenant/credentials', async (c) => {
    const [certs, tokens] = await Promise.all([listCredentials(kms, c.get('tenant').id), tenantTokens(kms, c.get('tenant').id)]);
    const now = Date.now();
    const status = (r: { expires_at: Date; revoked_at: Date | null }) =>
      r.revoked_at ? 'revoked' : r.expires_at.getTime() < now ? 'expired' : 'active';
    return c.json({
      credentials: [
        ...certs.map((r) => ({
          id: r.id,
          kind: 'certificate',
          dialect: r.dialect,
          name: r.name,
          description: r.description,
          identities: r.identities,
          status: status(r),
          fingerprint: r.fingerprint,
          createdAt: iso(r.created_at),
          expiresAt: iso(r.expires_at),
          revokedAt: iso(r.revoked_at),
        })),
        // An OVH bearer token: its domain instead of a fingerprint; the secret is not kept.
        ...tokens.map((r) => ({
          id: r.id,
          kind: 'token',
          dialect: 'ovh',
          name: r.name,
          description: r.description,
          identities: r.identities,
          status: status(r),
          okmsId: r.okms_id,
          createdAt: iso(r.created_at),
          expiresAt: iso(r.expires_at),
          revokedAt: iso(r.revoked_at),
        })),
      ],
    });
  });

  // Linking needs the tenant itself, not the middleware's: a namespace may join a tenant by id or name.
  app.post('/admin/tenants/:tenant/links', async (c) => {
    const req = await body(c, Link);
    return c.json(await kms.tenants.link(req.dialect, req.id, c.req.param('tenant')), 200);
  });
  return bindingsOf;
}
