import { sql, type Kysely, type Selectable } from 'kysely';
import type { AuditEvent } from '../audit.ts';
import { isUuid } from '../ciphertext.ts';
import type { Core } from '../context.ts';
import { KmsError, notFound, toKmsError } from '../errors.ts';
import type { Database, KeyGrantsTable } from '../db/schema.ts';
import type { Action, Caller, GrantRecord, KeyRecord } from '../types.ts';

/** The audit event of one operation, with the caller's own details merged in. */
export function event(
  core: Core,
  c: Caller,
  action: Action | string,
  keyId: string | null,
  outcome: AuditEvent['outcome'],
  err?: KmsError,
  details?: Record<string, unknown>,
): AuditEvent {
  return {
    at: core.now(),
    tenantId: isUuid(c.tenantId) ? c.tenantId : null,
    dialect: c.dialect,
    principal: c.principal,
    action,
    keyId: keyId && isUuid(keyId) ? keyId : null,
    outcome,
    errorKind: err?.kind,
    requestId: c.requestId,
    details: c.details ? { ...c.details, ...details } : details,
  };
}

/**
 * Runs one operation: any failure becomes a KmsError and an audit event; success is audited by `fn`,
 * which waits for its event to be durable (`allowed`) before it returns. A refusal is answered once its
 * event is written too; if the trail cannot take it, the refusal stays the answer.
 */
export async function run<T>(core: Core, c: Caller, action: Action, keyId: string | null, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    const err = toKmsError(e);
    if ((err.kind === 'failed_precondition' || err.kind === 'unsupported') && !err.key && keyId) err.key = await keyFacts(core, c, keyId);
    if (err.kind === 'internal' || err.kind === 'unavailable') core.log.error({ err: e, action, reqId: c.requestId }, 'operation failed');
    await core.audit
      .record(event(core, c, action, keyId, err.kind === 'permission_denied' ? 'denied' : 'failed', err))
      .catch(() => undefined);
    throw err;
  }
}

/** What a renderer may say about the key a refusal concerns; nothing for another tenant's key. */
async function keyFacts(core: Core, c: Caller, keyId: string): Promise<KmsError['key']> {
  if (!isUuid(c.tenantId) || !isUuid(keyId)) return undefined;
  const row = await core.db
    .selectFrom('keys')
    .select(['kind', 'ops', 'state'])
    .where('tenant_id', '=', c.tenantId)
    .where('id', '=', keyId.toLowerCase())
    .where((eb) => eb.or([eb('owner', 'is', null), eb('owner', '=', c.dialect)]))
    .executeTakeFirst()
    .catch(() => undefined);
  return row && { kind: row.kind, ops: row.ops, state: row.state };
}

/**
 * The dialect's policy (`Caller.authorize`); a refusal is permission_denied, audited as denied. With
 * `db` (a transaction under way, or core's store) and a key, a live grant on that key for the caller (`Caller.grants`) allows what the policy
 * refused; it is returned, and named in the call's audit events. Grants are read only on a refusal.
 */
export async function authorize(c: Caller, action: Action, key?: KeyRecord, db?: Kysely<Database>): Promise<GrantRecord | undefined> {
  if (!c.authorize || (await c.authorize(action, key))) return undefined;
  const grant = db && key ? await liveGrant(db, c, key) : undefined;
  if (grant) {
    c.details = { ...c.details, grant: grant.id };
    return grant;
  }
  throw new KmsError(
    'permission_denied',
    `${c.principal} is not allowed to ${action.replace('key.', '').replace(/_/g, ' ')}${key ? ` with key ${key.id}` : ''}`,
    'policy',
  );
}

/** A grant of the caller's dialect on `key` naming one of the caller's principals and the operation it performs. */
async function liveGrant(db: Kysely<Database>, c: Caller, key: KeyRecord): Promise<GrantRecord | undefined> {
  const g = c.grants;
  if (!g || !g.principals.length || !g.operation) return undefined;
  const row = await db
    .selectFrom('key_grants')
    .selectAll()
    .where('tenant_id', '=', key.tenantId)
    .where('key_id', '=', key.id)
    .where('dialect', '=', c.dialect)
    .where('grantee', 'in', [...g.principals])
    .where(sql<boolean>`${g.operation} = any(operations)`)
    .orderBy('created_at')
    .limit(1)
    .executeTakeFirst();
  return row && toGrant(row);
}

export const toGrant = (r: Selectable<KeyGrantsTable>): GrantRecord => ({
  id: r.id,
  tenantId: r.tenant_id,
  keyId: r.key_id,
  dialect: r.dialect,
  name: r.name,
  grantee: r.grantee,
  operations: r.operations,
  retiring: r.retiring,
  issuer: r.issuer,
  createdAt: r.created_at,
  attributes: r.attributes ?? {},
});

export function checkTenant(c: Caller) {
  if (!isUuid(c.tenantId)) throw notFound('tenant');
}

/** The operation's event, durable before the result is handed back (fails with `unavailable` otherwise). */
export function allowed(core: Core, c: Caller, action: Action, keyId: string, details?: Record<string, unknown>) {
  return core.audit.record(event(core, c, action, keyId, 'allowed', undefined, details));
}
