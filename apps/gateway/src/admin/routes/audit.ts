/**
 * The audit trail, newest first, and its verification.
 *
 *   GET    /admin/audit?tenant=&key=&dialect=&principal=&action=&outcome=&since=&until=&hideConsoleReads=&limit=&before=
 *   POST   /admin/audit/verify     {anchor?: {seq, chain}}: every MAC and chain link, the head, and the anchor
 *                                  (what `polykms audit verify` runs)
 */
import type { Hono } from 'hono';
import { invalid, isUuid, type Kms } from '@polykms/core';
import { CONSOLE_READS, ListAudit, VerifyAudit } from '../schemas.ts';
import { body, findTenant, parse, type AdminEnv } from '../request.ts';

export function auditRoutes(app: Hono<AdminEnv>, kms: Kms) {
  app.post('/admin/audit/verify', async (c) => c.json(await kms.verifyAudit((await body(c, VerifyAudit, true)).anchor)));
  app.get('/admin/audit', async (c) => {
    const q = parse(ListAudit, c.req.query());
    const tenantId = q.tenant === undefined ? undefined : (await findTenant(kms, q.tenant)).id;
    if (q.key !== undefined && !isUuid(q.key)) throw invalid('key: must be a key id (UUID)');
    const page = await kms.audit.list({
      tenantId,
      keyId: q.key?.toLowerCase(),
      dialect: q.dialect,
      principal: q.principal,
      action: q.action,
      outcome: q.outcome,
      since: q.since,
      until: q.until,
      hide: q.hideConsoleReads === 'true' ? CONSOLE_READS : undefined,
      limit: q.limit ?? 50,
      before: q.before,
    });
    return c.json({
      events: page.events.map((e) => ({ ...e, at: e.at.toISOString() })),
      nextBefore: page.nextBefore,
    });
  });
}
