/**
 * The gateway's own admin JSON API (not a vendor's): tenants, their keys, their bindings to the
 * dialects' namespaces, their credentials, and the audit trail. Served on the admin port behind the
 * admin token (mounted by admin.ts), used by the web console and scripts.
 *
 * Key operations go through core with the caller `{dialect: 'admin', principal: 'admin-console'}`, so
 * they obey the same state rules and leave the same audit events as any dialect's.
 *
 *   GET    /admin/tenants                                    tenants with their bindings
 *   POST   /admin/tenants                                    {name}
 *   GET    /admin/tenants/{tenant}                           one tenant with its bindings
 *   GET    /admin/tenants/{tenant}/bindings                  OVH domain / Huawei project / CSE instance
 *   GET    /admin/tenants/{tenant}/credentials               every dialect's credentials (no secrets)
 *   GET    /admin/tenants/{tenant}/keys?limit=&cursor=&state=  keyset pages
 *   POST   /admin/tenants/{tenant}/keys                      {name, description?, type, size|curve, operations?}
 *   GET    /admin/tenants/{tenant}/keys/{key}
 *   PATCH  /admin/tenants/{tenant}/keys/{key}                {name?, description?}
 *   POST   /admin/tenants/{tenant}/keys/{key}/activate
 *   POST   /admin/tenants/{tenant}/keys/{key}/deactivate     {reason?}
 *   POST   /admin/tenants/{tenant}/keys/{key}/schedule-deletion  {pendingDays}
 *   POST   /admin/tenants/{tenant}/keys/{key}/cancel-deletion
 *   DELETE /admin/tenants/{tenant}/keys/{key}                destroys the material now; only a deactivated key
 *   GET    /admin/audit?tenant=&key=&limit=&before=          newest first
 *
 * `{tenant}` is a tenant's id or its name. Errors are `{message}` with a 4xx for anything a caller
 * can fix; a 500 says only "internal error".
 */
import { randomUUID } from 'node:crypto';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { z } from 'zod';
import { CURVES, DEACTIVATION_REASONS, DESCRIPTION_MAX, KEY_OPS, KEY_STATES, KmsError, NAME_MAX, SIZES, invalid, isUuid, notFound, toKmsError, type Caller, type KeyRecord, type Kms } from '@polykms/core';

const STATUS: Record<KmsError['kind'], 400 | 401 | 403 | 404 | 409 | 429 | 500 | 503> = {
  not_found: 404,
  invalid_argument: 400,
  failed_precondition: 409,
  unsupported: 400,
  unauthenticated: 401,
  permission_denied: 403,
  conflict: 409,
  resource_exhausted: 429,
  unavailable: 503,
  internal: 500,
};

const MAX_BODY = 64 * 1024;

const Name = z.string().min(1).max(NAME_MAX);
const Description = z.string().max(DESCRIPTION_MAX);
const Op = z.enum(KEY_OPS, { error: `must be one of ${KEY_OPS.join(', ')}` });
const PAGE = { error: 'must be a whole number from 1 to 1000' };
const PageSize = z.coerce.number(PAGE).int(PAGE).min(1, PAGE).max(1000, PAGE);

const CreateTenant = z.strictObject({ name: Name });

// One schema per key type, so "an EC key takes a curve" is said by the schema, not found later.
const Size = (kind: 'oct' | 'RSA') => z.number({ error: `must be one of ${SIZES[kind].join(', ')} (bits)` }).refine((n) => SIZES[kind].includes(n), { error: `must be one of ${SIZES[kind].join(', ')} (bits)` });
const Operations = z.array(Op).min(1, { error: 'choose at least one operation' }).max(KEY_OPS.length);
const CreateKey = z.discriminatedUnion(
  'type',
  [
    z.strictObject({ type: z.literal('oct'), name: Name, description: Description.optional(), size: Size('oct'), operations: Operations.optional() }),
    z.strictObject({ type: z.literal('RSA'), name: Name, description: Description.optional(), size: Size('RSA'), operations: Operations.optional() }),
    z.strictObject({ type: z.literal('EC'), name: Name, description: Description.optional(), curve: z.enum(CURVES, { error: `must be one of ${CURVES.join(', ')}` }), operations: Operations.optional() }),
  ],
  { error: 'must be one of oct, RSA, EC' },
);

const UpdateKey = z.strictObject({ name: Name.optional(), description: Description.optional() }).refine((b) => b.name !== undefined || b.description !== undefined, { message: 'give a name or a description to change' });
const Deactivate = z.strictObject({ reason: z.enum(DEACTIVATION_REASONS).optional() });
const ScheduleDeletion = z.strictObject({ pendingDays: z.number().int().min(0).max(3650) });
const Empty = z.strictObject({});

const ListKeys = z.strictObject({
  limit: PageSize.optional(),
  cursor: z.string().max(200).optional(),
  state: z.enum(KEY_STATES).optional(),
});
const ListAudit = z.strictObject({
  tenant: z.string().min(1).max(NAME_MAX).optional(),
  key: z.string().optional(),
  limit: PageSize.optional(),
  before: z.string().max(100).optional(),
});

/** "field: problem; field: problem", short enough to show in a form. */
function describe(error: z.ZodError): string {
  return error.issues
    .map((i) => {
      const where = i.path.length ? i.path.join('.') : 'body';
      if (i.code === 'unrecognized_keys') return `unknown field(s) ${i.keys.map((k) => [...i.path, k].join('.')).join(', ')}`;
      return `${where}: ${i.message}`;
    })
    .join('; ');
}

function parse<S extends z.ZodType>(schema: S, data: unknown): z.infer<S> {
  const r = schema.safeParse(data);
  if (!r.success) throw invalid(describe(r.error));
  return r.data;
}

async function body<S extends z.ZodType>(c: Context, schema: S, optional = false): Promise<z.infer<S>> {
  const text = await c.req.text();
  if (text.length > MAX_BODY) throw invalid(`the body is larger than ${MAX_BODY} bytes`);
  if (optional && text.trim() === '') return parse(schema, {});
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw invalid('the body is not valid JSON');
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw invalid('the body must be a JSON object');
  return parse(schema, data);
}

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

/** A key as the console shows it; never material. */
export function renderKey(k: KeyRecord) {
  return {
    id: k.id,
    tenantId: k.tenantId,
    name: k.name,
    description: k.description,
    alias: k.alias,
    type: k.kind,
    size: k.size,
    curve: k.curve,
    operations: k.ops,
    origin: k.origin,
    state: k.state,
    currentVersion: k.currentVersion,
    createdAt: iso(k.createdAt),
    updatedAt: iso(k.updatedAt),
    activatedAt: iso(k.activatedAt),
    deactivatedAt: iso(k.deactivatedAt),
    deactivationReason: k.deactivationReason,
    compromisedAt: iso(k.compromisedAt),
    deletionDueAt: iso(k.deletionDueAt),
    destroyedAt: iso(k.destroyedAt),
  };
}

/** Every admin answer is private and live: never stored by a browser or a proxy. */
export const noStore: MiddlewareHandler = async (c, next) => {
  await next();
  c.header('Cache-Control', 'no-store');
  c.header('Pragma', 'no-cache');
  c.header('X-Content-Type-Options', 'nosniff');
};

type Env = { Variables: { tenant: { id: string; name: string }; requestId: string } };

export function adminKeysApp(kms: Kms) {
  const app = new Hono<Env>();

  app.onError((e, c) => {
    // hono's own errors carry a status; anything else goes through core's mapping.
    if (e instanceof HTTPException && e.status < 500) return c.json({ message: e.message || 'bad request' }, e.status);
    const err = toKmsError(e);
    const status = STATUS[err.kind];
    if (status >= 500) kms.log.error({ err: e, reqId: c.get('requestId') }, 'admin request failed');
    return c.json({ message: err.message }, status);
  });

  app.use('/admin/tenants/*', noStore);
  app.use('/admin/tenants', noStore);
  app.use('/admin/audit', noStore);
  app.use('/admin/tenants/*', async (c, next) => {
    const given = c.req.header('x-request-id');
    c.set('requestId', given && /^[A-Za-z0-9._:-]{1,128}$/.test(given) ? given : randomUUID());
    c.header('X-Request-Id', c.get('requestId'));
    await next();
  });

  const caller = (c: Context<Env>): Caller => ({ tenantId: c.get('tenant').id, dialect: 'admin', principal: 'admin-console', requestId: c.get('requestId') });

  const bindingsOf = async (tenantIds?: string[]) => {
    let q = kms.db.selectFrom('tenant_bindings').select(['dialect', 'external_id', 'tenant_id', 'attributes', 'created_at']);
    if (tenantIds) {
      if (!tenantIds.length) return [];
      q = q.where('tenant_id', 'in', tenantIds);
    }
    const rows = await q.orderBy('created_at').execute();
    return rows.map((b) => ({ tenantId: b.tenant_id, dialect: b.dialect, externalId: b.external_id, attributes: b.attributes ?? {}, createdAt: iso(b.created_at) }));
  };
  const tenantView = (t: { id: string; name: string; created_at?: Date | undefined }, bindings: Awaited<ReturnType<typeof bindingsOf>>) => ({
    id: t.id,
    name: t.name,
    createdAt: iso(t.created_at),
    bindings: bindings.filter((b) => b.tenantId === t.id).map(({ tenantId: _, ...b }) => b),
  });

  const tenantRow = (id: string) => kms.db.selectFrom('tenants').select(['id', 'name', 'created_at']).where('id', '=', id).executeTakeFirstOrThrow();
  const findTenant = async (idOrName: string) => {
    if (idOrName.length > NAME_MAX) throw notFound('tenant');
    const t = await kms.getTenant(idOrName);
    if (!t) throw notFound('tenant');
    return t;
  };

  app.get('/admin/tenants', async (c) => {
    const [tenants, bindings] = await Promise.all([kms.listTenants(), bindingsOf()]);
    return c.json({ tenants: tenants.map((t) => tenantView(t, bindings)) });
  });
  app.post('/admin/tenants', async (c) => {
    const req = await body(c, CreateTenant);
    const t = await kms.createTenant(req.name);
    await kms.audit.record({ at: new Date(), tenantId: t.id, dialect: 'admin', principal: 'admin-console', action: 'tenant.create', keyId: null, outcome: 'allowed', details: { name: t.name } });
    return c.json(tenantView(await tenantRow(t.id), []), 201);
  });

  // Everything under one tenant: resolve it once (id or name); unknown is 404.
  app.use('/admin/tenants/:tenant/*', async (c, next) => {
    c.set('tenant', await findTenant(c.req.param('tenant')!));
    await next();
  });
  app.get('/admin/tenants/:tenant', async (c) => {
    const t = await findTenant(c.req.param('tenant'));
    return c.json(tenantView(await tenantRow(t.id), await bindingsOf([t.id])));
  });
  app.get('/admin/tenants/:tenant/bindings', async (c) => c.json({ bindings: (await bindingsOf([c.get('tenant').id])).map(({ tenantId: _, ...b }) => b) }));

  app.get('/admin/tenants/:tenant/credentials', async (c) => {
    const rows = await kms.db
      .selectFrom('credentials')
      .select(['id', 'dialect', 'name', 'description', 'identities', 'status', 'fingerprint', 'created_at', 'expires_at', 'revoked_at'])
      .where('tenant_id', '=', c.get('tenant').id)
      .orderBy('created_at')
      .execute();
    const now = Date.now();
    return c.json({
      credentials: rows.map((r) => ({
        id: r.id,
        dialect: r.dialect,
        name: r.name,
        description: r.description,
        identities: r.identities,
        status: r.revoked_at ? 'revoked' : r.expires_at.getTime() < now ? 'expired' : 'active',
        fingerprint: r.fingerprint,
        createdAt: iso(r.created_at),
        expiresAt: iso(r.expires_at),
        revokedAt: iso(r.revoked_at),
      })),
    });
  });

  app.get('/admin/tenants/:tenant/keys', async (c) => {
    const q = parse(ListKeys, c.req.query());
    const page = await kms.listKeys(caller(c), { limit: q.limit ?? 50, cursor: q.cursor, states: q.state ? [q.state] : undefined });
    return c.json({ keys: page.keys.map(renderKey), nextCursor: page.nextCursor });
  });
  app.post('/admin/tenants/:tenant/keys', async (c) => {
    const req = await body(c, CreateKey);
    const spec = req.type === 'EC' ? { kind: 'EC' as const, curve: req.curve } : { kind: req.type, size: req.size };
    const key = await kms.createKey(caller(c), { name: req.name, description: req.description, spec, ops: req.operations });
    return c.json(renderKey(key), 201);
  });

  const keyId = (c: Context<Env>) => {
    const id = c.req.param('key') ?? '';
    if (!isUuid(id)) throw notFound();
    return id.toLowerCase();
  };
  app.get('/admin/tenants/:tenant/keys/:key', async (c) => c.json(renderKey(await kms.getKey(caller(c), keyId(c)))));
  app.patch('/admin/tenants/:tenant/keys/:key', async (c) => {
    const id = keyId(c);
    const req = await body(c, UpdateKey);
    return c.json(renderKey(await kms.updateKey(caller(c), id, req)));
  });
  app.post('/admin/tenants/:tenant/keys/:key/activate', async (c) => {
    const id = keyId(c);
    await body(c, Empty, true);
    return c.json(renderKey(await kms.activate(caller(c), id)));
  });
  app.post('/admin/tenants/:tenant/keys/:key/deactivate', async (c) => {
    const id = keyId(c);
    const req = await body(c, Deactivate, true);
    return c.json(renderKey(await kms.deactivate(caller(c), id, req.reason ?? 'unspecified')));
  });
  app.post('/admin/tenants/:tenant/keys/:key/schedule-deletion', async (c) => {
    const id = keyId(c);
    const req = await body(c, ScheduleDeletion);
    return c.json(renderKey(await kms.scheduleDeletion(caller(c), id, req.pendingDays)));
  });
  app.post('/admin/tenants/:tenant/keys/:key/cancel-deletion', async (c) => {
    const id = keyId(c);
    await body(c, Empty, true);
    return c.json(renderKey(await kms.cancelDeletion(caller(c), id)));
  });
  /**
   * Deleting from the console destroys the material at once, and only for a key already taken out of
   * service (deactivated, compromised or pending deletion): an active key is refused with 409, so a
   * single click can never make data unrecoverable. The metadata row stays, for audit.
   */
  app.delete('/admin/tenants/:tenant/keys/:key', async (c) => {
    const key = await kms.destroy(caller(c), keyId(c));
    return c.json({ ...renderKey(key), message: 'the key material is destroyed; data encrypted with this key can no longer be decrypted' });
  });

  app.get('/admin/audit', async (c) => {
    const q = parse(ListAudit, c.req.query());
    const tenantId = q.tenant === undefined ? undefined : (await findTenant(q.tenant)).id;
    if (q.key !== undefined && !isUuid(q.key)) throw invalid('key: must be a key id (UUID)');
    const page = await kms.audit.list({ tenantId, keyId: q.key?.toLowerCase(), limit: q.limit ?? 50, before: q.before });
    return c.json({
      events: page.events.map((e) => ({ ...e, at: e.at.toISOString() })),
      nextBefore: page.nextBefore,
    });
  });

  return app;
}
