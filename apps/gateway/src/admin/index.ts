import { Hono } from 'hono';
import type { Kms } from '@polykms/core';
import { gatewayCa } from '@polykms/pki';
import { ovhControlApp } from '@polykms/ovh';
import { huaweiAdminApp } from '@polykms/huawei';
import { handleErrors, limitBody, refuseCrossSite, type Metrics } from '@polykms/http';
import { requireAdmin } from '../admintoken.ts';
import { consoleApp } from '../console/index.ts';
import { renderAdminError } from './errors.ts';
import { noStore, requestIds, type AdminEnv } from './request.ts';
import { auditRoutes } from './routes/audit.ts';
import { dashboardRoutes } from './routes/dashboard.ts';
import { keyRoutes } from './routes/keys.ts';
import { tenantRoutes } from './routes/tenants.ts';
import { normalizeUrl, type CseConfig } from '@polykms/cse';

/**
 * No other site's page may drive the admin API from an operator's browser; the console is this
 * origin. The body is the admin API's own (requireAdmin's shape).
 */
/**
 * The largest admin request body: the biggest legitimate ones (an IAM policy document, a CSR, a key
 * to import) are a few kilobytes; beyond this the body is refused before it is read.
 */
export const ADMIN_MAX_BODY = 1024 * 1024;

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
    identityProviders: config.identityProviders.map((p) => ({
      name: p.name ?? null,
      issuer: p.issuer,
      jwksUri: p.jwksUri,
      audiences: p.audiences,
    })),
    authorizationIssuers: config.authorizationIssuers.map((a) => ({
      issuer: a.issuer,
      jwksUri: a.jwksUri,
      application: a.application ?? null,
    })),
    authorizationAudience: config.authorizationAudience,
    privilegedUsers: config.privilegedUsers,
    allowGuests: config.allowGuests,
    ownerDomain: config.ownerDomain ?? null,
    perimeters: Object.keys(config.perimeters),
    peers: config.peers.map((p) => p.url),
    corsOrigins: config.corsOrigins,
  };
}

/**
 * The admin port, a dialect like the others: health, readiness and metrics (open); behind the admin
 * token, the gateway's admin API (routes/), Huawei's IAM administration, OVH's control plane and the
 * console. One error mapping for all of it (errors.ts, STATUS_OF_KIND).
 */
export function adminApp(
  kms: Kms,
  opts: { adminToken: string; ovhUrl: string; metrics?: Metrics | undefined; cse?: CseConfig | undefined },
) {
  const app = new Hono<AdminEnv>();
  handleErrors(app, 'admin', (e) => renderAdminError(e), kms.log);
  app.use('*', refuseCrossSiteAdmin());
  app.use(
    '*',
    limitBody(ADMIN_MAX_BODY, (c) => c.json({ message: `the body is larger than ${ADMIN_MAX_BODY} bytes` }, 413)),
  );
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
  app.use('/admin/*', noStore);
  app.use('/admin/*', requestIds);
  app.route('/', huaweiAdminApp(kms) as never);
  app.route(
    '/',
    ovhControlApp(kms, () => gatewayCa(kms), {
      restEndpoint: opts.ovhUrl,
      swaggerEndpoint: `${opts.ovhUrl}/swagger/`,
    }) as never,
  );
  const bindingsOf = tenantRoutes(app, kms);
  keyRoutes(app, kms);
  auditRoutes(app, kms);
  const metrics = opts.metrics;
  dashboardRoutes(app, kms, { traffic: metrics && (() => metrics.recent.snapshot()), cse: opts.cse && cseSummary(opts.cse) }, bindingsOf);
  // The console page holds no data; every call it makes carries the admin token.
  app.route('/', consoleApp() as never);
  return app;
}
