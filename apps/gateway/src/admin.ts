import { Hono } from 'hono';
import { toKmsError, type Kms } from '@polykms/core';
import { z } from 'zod';
import { gatewayCa } from '@polykms/pki';
import { ovhControlApp } from '@polykms/ovh';
import { huaweiAdminApp } from '@polykms/huawei';
import { requireAdmin } from './admintoken.ts';
import { adminKeysApp, noStore } from './admin-keys.ts';
import { consoleApp } from './console/index.ts';
import { refuseCrossSite, type Metrics } from '@polykms/http';
import { normalizeUrl, type CseConfig } from '@polykms/cse';

const LinkSchema = z.strictObject({ dialect: z.enum(['ovh', 'huawei', 'cse']), id: z.string().min(1).max(256) });

/**
 * No other site's page may drive the admin API from an operator's browser; the console is this
 * origin. The body is the admin API's own (requireAdmin's shape).
 */
export const refuseCrossSiteAdmin = () => refuseCrossSite((c, reason) => c.json({ class: 'Client::Forbidden', message: reason }, 403));

/**
 * What the console shows of the running KACLS configuration: who may call and how it is reached.
 * It holds no secret (issuers, key-set URLs, audiences, emails), and no file contents beyond these.
 */
export function cseSummary(config: CseConfig) {
  return {
    enabled: config.enabled,
    file: config.file ?? null,
    name: config.name ?? null,
    kaclsUrl: config.kaclsUrl,
    // The tenant binding's external id (see tenantExternalId in @polykms/cse).
    instance: config.instance ?? normalizeUrl(config.kaclsUrl),
    identityProviders: config.identityProviders.map((p) => ({ name: p.name ?? null, issuer: p.issuer, jwksUri: p.jwksUri, audiences: p.audiences })),
    authorizationIssuers: config.authorizationIssuers.map((a) => ({ issuer: a.issuer, jwksUri: a.jwksUri, application: a.application ?? null })),
    authorizationAudience: config.authorizationAudience,
    privilegedUsers: config.privilegedUsers,
    allowGuests: config.allowGuests,
    ownerDomain: config.ownerDomain ?? null,
    perimeters: Object.keys(config.perimeters),
    peers: config.peers.map((p) => p.url),
    corsOrigins: config.corsOrigins,
  };
}

/** The admin port: health, readiness and metrics (open), the control planes (admin token). */
export function adminApp(kms: Kms, opts: { adminToken: string; ovhUrl: string; metrics?: Metrics | undefined; cse?: CseConfig | undefined }) {
  const app = new Hono();
  app.use('*', refuseCrossSiteAdmin());
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  // Prometheus scrapes without credentials; the series carry route patterns and counts, never ids or data.
  app.get('/metrics', async (c) => {
    if (!opts.metrics) return c.text('metrics are off\n', 404);
    const m = await opts.metrics.render();
    return c.body(m.body, 200, { 'content-type': m.contentType });
  });
  app.get('/readyz', async (c) => {
    try {
      const ready = await kms.ready();
      return ready ? c.json({ status: 'ready', storage: kms.driver }) : c.json({ status: 'migrations pending' }, 503);
    } catch {
      return c.json({ status: 'database unreachable' }, 503);
    }
  });
  app.use('/v2/*', requireAdmin(opts.adminToken));
  app.use('/admin/*', requireAdmin(opts.adminToken));
  app.use('/v2/*', noStore);
  app.post('/admin/audit/verify', async (c) => c.json(await kms.verifyAudit()));
  // Linked tenants: one tenant reachable through several vendors' namespaces.
  app.post('/admin/tenants/:tenant/links', async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      return c.json({ message: 'the body must be JSON: {"dialect": "ovh|huawei|cse", "id": "..."}' }, 400);
    }
    const r = LinkSchema.safeParse(body);
    if (!r.success) return c.json({ message: r.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ') }, 400);
    try {
      const link = await kms.tenants.link(r.data.dialect, r.data.id, c.req.param('tenant'));
      return c.json(link, 200);
    } catch (e) {
      const k = toKmsError(e);
      return c.json({ message: k.message }, k.kind === 'not_found' ? 404 : k.kind === 'conflict' ? 409 : k.kind === 'invalid_argument' ? 400 : 500);
    }
  });
  app.route('/', huaweiAdminApp(kms));
  app.route('/', ovhControlApp(kms, () => gatewayCa(kms), { restEndpoint: opts.ovhUrl, swaggerEndpoint: `${opts.ovhUrl}/swagger/` }));
  const metrics = opts.metrics;
  app.route('/', adminKeysApp(kms, { traffic: metrics && (() => metrics.recent.snapshot()), cse: opts.cse && cseSummary(opts.cse) }));
  // The console page holds no data; every call it makes carries the admin token.
  app.route('/', consoleApp());
  return app;
}
