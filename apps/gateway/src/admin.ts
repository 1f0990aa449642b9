import { Hono } from 'hono';
import { migrationsApplied, toKmsError, type Kms } from '@polykms/core';
import { z } from 'zod';
import { gatewayCa } from '@polykms/pki';
import { ovhControlApp } from '@polykms/ovh';
import { huaweiAdminApp } from '@polykms/huawei';
import { requireAdmin } from './admintoken.ts';
import { adminKeysApp, noStore } from './admin-keys.ts';
import { consoleApp } from './console/index.ts';
import type { Metrics } from '@polykms/http';

const AnchorSchema = z.strictObject({ anchor: z.strictObject({ seq: z.string().regex(/^[1-9][0-9]{0,18}$/), chain: z.string().regex(/^[0-9a-fA-F]{64}$/) }).optional() });
const LinkSchema = z.strictObject({ dialect: z.enum(['ovh', 'huawei', 'cse']), id: z.string().min(1).max(256) });

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
  app.use('/v2/*', noStore);
  // Optionally with an anchor kept outside the database (a log line's `head`), which must still be in the trail.
  app.post('/admin/audit/verify', async (c) => {
    const text = await c.req.text();
    let anchor: z.infer<typeof AnchorSchema>['anchor'];
    if (text.trim()) {
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        return c.json({ message: 'the body must be empty or JSON: {"anchor": {"seq": "...", "chain": "<64 hex>"}}' }, 400);
      }
      const r = AnchorSchema.safeParse(body);
      if (!r.success) return c.json({ message: r.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ') }, 400);
      anchor = r.data.anchor;
    }
    return c.json(await kms.verifyAudit(anchor));
  });
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
      const link = await kms.linkTenant(r.data.dialect, r.data.id, c.req.param('tenant'));
      return c.json(link, 200);
    } catch (e) {
      const k = toKmsError(e);
      return c.json({ message: k.message }, k.kind === 'not_found' ? 404 : k.kind === 'conflict' ? 409 : k.kind === 'invalid_argument' ? 400 : 500);
    }
  });
  app.route('/', huaweiAdminApp(kms));
  app.route('/', ovhControlApp(kms, () => gatewayCa(kms), { restEndpoint: opts.ovhUrl, swaggerEndpoint: `${opts.ovhUrl}/swagger/` }));
  app.route('/', adminKeysApp(kms));
  // The console page holds no data; every call it makes carries the admin token.
  app.route('/', consoleApp());
  return app;
}
