/**
 * The console's overview and the running KACLS configuration.
 *
 *   GET    /admin/dashboard     key counts by state, type and dialect; requests and errors per dialect
 *                               and minute, last hour
 *   GET    /admin/cse           the running KACLS configuration, summarized
 */
import type { Hono } from 'hono';
import type { Kms } from '@polykms/core';
import type { AdminEnv } from '../request.ts';
import type { AdminOptions } from '../schemas.ts';

export function dashboardRoutes(
  app: Hono<AdminEnv>,
  kms: Kms,
  opts: AdminOptions,
  bindingsOf: (ids?: string[]) => Promise<{ tenantId: string; dialect: string }[]>,
) {
  /**
   * The overview: keys by state, type and dialect (a tenant's keys count under each dialect it is
   * bound to; a tenant bound to none counts as 'admin'), and this process's traffic of the last hour.
   */
  app.get('/admin/dashboard', async (c) => {
    const [counts, tenants, bindings] = await Promise.all([kms.countKeys(), kms.tenants.list(), bindingsOf()]);
    const dialectsOf = new Map<string, Set<string>>();
    for (const b of bindings) dialectsOf.set(b.tenantId, (dialectsOf.get(b.tenantId) ?? new Set()).add(b.dialect));
    const byState: Record<string, number> = {};
    const byType: Record<string, number> = {};
    const byDialect: Record<string, Record<string, number>> = {};
    let total = 0;
    for (const r of counts) {
      total += r.count;
      byState[r.state] = (byState[r.state] ?? 0) + r.count;
      byType[r.kind] = (byType[r.kind] ?? 0) + r.count;
      for (const d of dialectsOf.get(r.tenantId) ?? ['admin']) {
        const row = byDialect[d] ?? {};
        row[r.state] = (row[r.state] ?? 0) + r.count;
        byDialect[d] = row;
      }
    }
    return c.json({
      tenants: tenants.length,
      keys: { total, byState, byType, byDialect },
      traffic: opts.traffic?.() ?? null,
    });
  });

  app.get('/admin/cse', (c) => c.json(opts.cse ?? { enabled: false }));
}
