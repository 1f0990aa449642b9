import { Hono } from 'hono';
import { migrationsApplied, type Kms } from '@polykms/core';
import { gatewayCa } from '@polykms/pki';
import { ovhControlApp } from '@polykms/ovh';
import { requireAdmin } from './admintoken.ts';
import type { Metrics } from '@polykms/http';

/** The admin port: health, readiness and metrics (open), the control planes (admin token). */
export function adminApp(kms: Kms, opts: { adminToken: string; ovhUrl: string; metrics?: Metrics | undefined }) {
  const app = new Hono();
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  // Prometheus scrapes without credentials; the series carry route patterns and counts, never ids or data.
  app.get('/metrics', async (c) => {
    if (!opts.metrics) return c.text('metrics are off\n', 404);
    const m = await opts.metrics.render();
    return c.body(m.body, 200, { 'content-type': m.contentType });
  });
  app.get('/readyz', async (c) => {
    try {
      const ready = await migrationsApplied(kms.db);
      return ready ? c.json({ status: 'ready', storage: kms.store.driver }) : c.json({ status: 'migrations pending' }, 503);
    } catch {
      return c.json({ status: 'database unreachable' }, 503);
    }
  });
  app.use('/v2/*', requireAdmin(opts.adminToken));
  app.use('/admin/*', requireAdmin(opts.adminToken));
  app.route('/', ovhControlApp(kms, () => gatewayCa(kms), { restEndpoint: opts.ovhUrl, swaggerEndpoint: `${opts.ovhUrl}/swagger/` }));
  return app;
}
