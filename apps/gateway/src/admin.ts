import { Hono } from 'hono';
import { migrationsApplied, type Kms } from '@polykms/core';
import { gatewayCa } from '@polykms/pki';
import { ovhControlApp } from '@polykms/ovh';
import { requireAdmin } from './admintoken.ts';

/** The admin port: health and readiness (open), the OVH control plane (admin token). */
export function adminApp(kms: Kms, opts: { adminToken: string; ovhUrl: string }) {
  const app = new Hono();
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
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
