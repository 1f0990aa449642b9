import type { Kysely } from 'kysely';
import type { AuditEvent } from './audit.ts';
import { unstorableText } from './audit-text.ts';
import { isUuid } from './ciphertext.ts';
import type { Database } from './db/schema.ts';
import { invalid } from './errors.ts';

/** An event as stored, with its position in the trail. */
export interface StoredAuditEvent extends AuditEvent {
  id: string;
  errorKind: string | null;
  requestId: string | null;
  details: Record<string, unknown> | null;
}

export interface AuditQuery {
  /** Only this tenant's events (a uuid); all tenants when absent. */
  tenantId?: string | undefined;
  keyId?: string | undefined;
  limit?: number | undefined;
  /** Events older than this position (`nextBefore` of the previous page). */
  before?: string | undefined;
  dialect?: string | undefined;
  /** Principals containing this text (case-insensitive). */
  principal?: string | undefined;
  action?: string | undefined;
  outcome?: AuditEvent['outcome'] | undefined;
  /** Events at or after `since` and before `until`. */
  since?: Date | undefined;
  until?: Date | undefined;
  /**
   * Leaves out one caller's successful events with these actions: an operator tool's own reads
   * (every page it shows is a `key.get` or `key.list`) would otherwise bury what others did.
   */
  hide?: { dialect: string; principal: string; actions: readonly string[] } | undefined;
}

/** `%`, `_` and the escape character itself, matched literally by LIKE. */
export const likeContains = (s: string) => `%${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/**
 * Recent events, newest first by event time (buffered events are inserted after later changes, so
 * the id alone is not time order); keyset on (at, id), so a page costs the same at any depth.
 *
 */
export async function listAuditEvents(
  db: Kysely<Database>,
  q: AuditQuery,
): Promise<{ events: StoredAuditEvent[]; nextBefore: string | null }> {
  const limit = q.limit ?? 100;
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw invalid('a page holds 1 to 1000 audit events', 'limit');
  for (const [field, v] of [
    ['tenant', q.tenantId],
    ['key', q.keyId],
  ] as const)
    if (v !== undefined && !isUuid(v)) throw invalid(`a ${field} id is a UUID`, field);
  const before = q.before === undefined ? undefined : decodeAuditPosition(q.before);
  let sel = db.selectFrom('audit_events').selectAll();
  if (q.tenantId !== undefined) sel = sel.where('tenant_id', '=', q.tenantId);
  if (q.keyId !== undefined) sel = sel.where('key_id', '=', q.keyId);
  for (const [field, v] of [
    ['dialect', q.dialect],
    ['principal', q.principal],
    ['action', q.action],
  ] as const) {
    if (v !== undefined && (typeof v !== 'string' || v.length < 1 || v.length > 256 || unstorableText(v)))
      throw invalid(`a ${field} filter is 1 to 256 characters`, field);
  }
  if (q.outcome !== undefined && !['allowed', 'denied', 'failed'].includes(q.outcome))
    throw invalid('an outcome is allowed, denied or failed', 'outcome');
  for (const [field, v] of [
    ['since', q.since],
    ['until', q.until],
  ] as const)
    if (v !== undefined && !(v instanceof Date && !Number.isNaN(v.getTime()))) throw invalid(`${field} is not a valid time`, field);
  if (q.dialect !== undefined) sel = sel.where('dialect', '=', q.dialect);
  if (q.principal !== undefined) sel = sel.where('principal', 'ilike', likeContains(q.principal));
  if (q.action !== undefined) sel = sel.where('action', '=', q.action);
  if (q.outcome !== undefined) sel = sel.where('outcome', '=', q.outcome);
  if (q.since !== undefined) sel = sel.where('at', '>=', q.since);
  if (q.until !== undefined) sel = sel.where('at', '<', q.until);
  const hide = q.hide;
  if (hide?.actions.length)
    sel = sel.where((w) =>
      w.not(
        w.and([
          w('dialect', '=', hide.dialect),
          w('principal', '=', hide.principal),
          w('outcome', '=', 'allowed'),
          w('action', 'in', [...hide.actions]),
        ]),
      ),
    );
  if (before) sel = sel.where((w) => w.or([w('at', '<', before.at), w.and([w('at', '=', before.at), w('id', '<', before.id)])]));
  const rows = await sel
    .orderBy('at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit + 1)
    .execute();
  const events = rows.slice(0, limit).map((r) => ({
    id: String(r.id),
    at: r.at,
    tenantId: r.tenant_id,
    dialect: r.dialect,
    principal: r.principal,
    action: r.action,
    keyId: r.key_id,
    outcome: r.outcome as AuditEvent['outcome'],
    errorKind: r.error_kind,
    requestId: r.request_id,
    details: r.details,
  }));
  const last = events[events.length - 1];
  return {
    events,
    nextBefore: rows.length > limit && last ? Buffer.from(`${last.at.toISOString()}|${last.id}`).toString('base64url') : null,
  };
}

function decodeAuditPosition(pos: string): { at: Date; id: string } {
  const bad = () => invalid('the audit position is not valid', 'before');
  if (typeof pos !== 'string' || pos.length > 100 || !/^[A-Za-z0-9_-]+$/.test(pos)) throw bad();
  const [iso, id] = Buffer.from(pos, 'base64url').toString('utf8').split('|');
  const at = new Date(iso ?? '');
  if (Number.isNaN(at.getTime()) || !/^[1-9][0-9]{0,17}$/.test(id ?? '')) throw bad();
  return { at, id: id! };
}
