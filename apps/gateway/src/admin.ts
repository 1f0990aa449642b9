import { Hono } from 'hono';
import { migrationsApplied, type Kms } from '@polykms/core';

/** The admin port: health and readiness now; the admin API and console mount here as they land. */
export function adminApp(kms: Kms) {
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
  return app;
}
