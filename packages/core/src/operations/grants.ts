import { randomBytes } from 'node:crypto';
import { sql, type Transaction } from 'kysely';
import type { Core } from '../context.ts';
import type { Database } from '../db/schema.ts';
import { invalid, KmsError } from '../errors.ts';
import { MAX_GRANTS_PER_KEY, NAME_MAX, type Caller, type CreateGrantInput, type GrantRecord } from '../types.ts';
import { authorize, checkTenant, event, run, toGrant } from './pipeline.ts';
import { keyRow, refuseUnstorable, refuseUnstorableIn, toRecord, visibleTo } from './rows.ts';

/**
 * Grants: a principal may use a key for the listed operations beyond what its role allows, until the
 * grant is revoked (by the key's administrators) or retired (by its retiring principal, or by its
 * grantee when the grant lists the retiring operation). Principals and operations are the dialect's
 * words; `authorize` (pipeline.ts) consults them on every use of the key its policy refuses.
 */

const PRINCIPAL_MAX = 256;
const OPERATION_MAX = 64;
const grantNotFound = () => new KmsError('not_found', 'grant not found for this key', 'grant');

function validate(input: CreateGrantInput) {
  const principal = (v: unknown, field: string) => {
    if (typeof v !== 'string' || v.length < 1 || v.length > PRINCIPAL_MAX)
      throw invalid(`a ${field} is 1 to ${PRINCIPAL_MAX} characters`, field);
    refuseUnstorable(`a ${field}`, v, field);
  };
  principal(input.grantee, 'grantee');
  if (input.retiring !== undefined) principal(input.retiring, 'retiring');
  if (!Array.isArray(input.operations) || input.operations.length < 1 || input.operations.length > 32)
    throw invalid('a grant lists 1 to 32 operations', 'operations');
  for (const op of input.operations) {
    if (typeof op !== 'string' || op.length < 1 || op.length > OPERATION_MAX)
      throw invalid(`an operation is 1 to ${OPERATION_MAX} characters`, 'operations');
    refuseUnstorable('an operation', op, 'operations');
  }
  if (input.name !== undefined && (typeof input.name !== 'string' || input.name.length < 1 || input.name.length > NAME_MAX))
    throw invalid(`a grant name is 1 to ${NAME_MAX} characters`, 'name');
  if (input.name !== undefined) refuseUnstorable('a grant name', input.name, 'name');
  refuseUnstorableIn("a grant's attributes", input.attributes);
}

/** The key's grant row, locked, or not_found: a grant of another key or dialect is not this key's. */
async function grantRow(trx: Transaction<Database>, c: Caller, keyId: string, grantId: string) {
  if (typeof grantId !== 'string' || grantId.length > 128) throw grantNotFound();
  const row = await trx
    .selectFrom('key_grants')
    .selectAll()
    .where('tenant_id', '=', c.tenantId)
    .where('id', '=', grantId.toLowerCase())
    .where('key_id', '=', keyId)
    .where('dialect', '=', c.dialect)
    .forUpdate()
    .executeTakeFirst();
  if (!row) throw grantNotFound();
  return row;
}

export async function createGrant(core: Core, c: Caller, keyId: string, input: CreateGrantInput): Promise<GrantRecord> {
  keyId = typeof keyId === 'string' ? keyId.toLowerCase() : keyId;
  return run(core, c, 'key.create_grant', keyId, async () => {
    validate(input);
    const operations = [...new Set(input.operations)];
    return core.db.transaction().execute(async (trx) => {
      // The key's row lock serialises grant creation on one key, so the count below holds.
      const key = toRecord(await keyRow(core, c, keyId, trx, true));
      const via = await authorize(c, 'key.create_grant', key, trx);
      // A grantee allowed to create grants passes on only what its own grant allows.
      if (via && operations.some((o) => !via.operations.includes(o)))
        throw new KmsError(
          'permission_denied',
          `grant ${via.id} allows only ${via.operations.join(', ')}; a grant it creates cannot allow more`,
          'policy',
        );
      if (key.state === 'destroyed' || key.state === 'pending_deletion')
        throw Object.assign(new KmsError('failed_precondition', `a key in state ${key.state} takes no new grants`, 'key_state'), {
          key: { kind: key.kind, ops: key.ops, state: key.state },
        });
      const { n } = await trx
        .selectFrom('key_grants')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('tenant_id', '=', key.tenantId)
        .where('key_id', '=', key.id)
        .executeTakeFirstOrThrow();
      if (Number(n) >= MAX_GRANTS_PER_KEY)
        throw new KmsError('resource_exhausted', `a key has at most ${MAX_GRANTS_PER_KEY} grants`, 'grants_per_key');
      const row = await trx
        .insertInto('key_grants')
        .values({
          tenant_id: key.tenantId,
          id: randomBytes(32).toString('hex'),
          key_id: key.id,
          dialect: c.dialect,
          name: input.name ?? null,
          grantee: input.grantee,
          operations,
          retiring: input.retiring ?? null,
          issuer: c.principal,
          created_at: core.now(),
          attributes: JSON.stringify(input.attributes ?? {}),
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      await core.audit.inTransaction(
        trx,
        event(core, c, 'key.create_grant', key.id, 'allowed', undefined, {
          newGrant: row.id,
          grantee: row.grantee,
          operations,
        }),
      );
      return toGrant(row);
    });
  });
}

/** The key's grants (of the caller's dialect), oldest first. */
export async function listGrants(
  core: Core,
  c: Caller,
  keyId: string,
  page: { limit: number; offset: number },
): Promise<{ grants: GrantRecord[]; total: number }> {
  keyId = typeof keyId === 'string' ? keyId.toLowerCase() : keyId;
  return run(core, c, 'key.list_grants', keyId, async () => {
    const key = toRecord(await keyRow(core, c, keyId));
    await authorize(c, 'key.list_grants', key, core.db);
    const base = core.db
      .selectFrom('key_grants')
      .where('tenant_id', '=', key.tenantId)
      .where('key_id', '=', key.id)
      .where('dialect', '=', c.dialect);
    const [rows, { n }] = await Promise.all([
      base.selectAll().orderBy('created_at').orderBy('id').limit(page.limit).offset(page.offset).execute(),
      base.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow(),
    ]);
    await core.audit.record(event(core, c, 'key.list_grants', key.id, 'allowed', undefined, { count: rows.length }));
    return { grants: rows.map(toGrant), total: Number(n) };
  });
}

/** The grants of the tenant the caller may retire (it is their retiring principal): a caller learns only grants naming it. */
export async function listRetirableGrants(
  core: Core,
  c: Caller,
  page: { limit: number; offset: number },
): Promise<{ grants: GrantRecord[]; total: number }> {
  return run(core, c, 'key.list_grants', null, async () => {
    checkTenant(c);
    const principals = [...(c.grants?.principals ?? [])];
    if (!principals.length) return { grants: [], total: 0 };
    const base = core.db
      .selectFrom('key_grants as g')
      .innerJoin('keys', (j) => j.onRef('keys.tenant_id', '=', 'g.tenant_id').onRef('keys.id', '=', 'g.key_id'))
      .where('g.tenant_id', '=', c.tenantId)
      .where('g.dialect', '=', c.dialect)
      .where('g.retiring', 'in', principals)
      .where(visibleTo(c));
    const [rows, { n }] = await Promise.all([
      base.selectAll('g').orderBy('g.created_at').orderBy('g.id').limit(page.limit).offset(page.offset).execute(),
      base.select(sql<string>`count(*)`.as('n')).executeTakeFirstOrThrow(),
    ]);
    await core.audit.record(event(core, c, 'key.list_grants', null, 'allowed', undefined, { retirable: true, count: rows.length }));
    return { grants: rows.map(toGrant), total: Number(n) };
  });
}

/** Ends a grant as the key's administrator (the role must allow revoking; no grant does). */
export async function revokeGrant(core: Core, c: Caller, keyId: string, grantId: string): Promise<GrantRecord> {
  return endGrant(core, c, 'key.revoke_grant', keyId, grantId);
}

/** Ends a grant as its retiring principal, as its grantee when it lists the retiring operation, or as an administrator. */
export async function retireGrant(core: Core, c: Caller, keyId: string, grantId: string): Promise<GrantRecord> {
  return endGrant(core, c, 'key.retire_grant', keyId, grantId);
}

async function endGrant(
  core: Core,
  c: Caller,
  action: 'key.revoke_grant' | 'key.retire_grant',
  keyId: string,
  grantId: string,
): Promise<GrantRecord> {
  keyId = typeof keyId === 'string' ? keyId.toLowerCase() : keyId;
  return run(core, c, action, keyId, async () =>
    core.db.transaction().execute(async (trx) => {
      const key = toRecord(await keyRow(core, c, keyId, trx));
      if (action === 'key.revoke_grant') await authorize(c, action, key);
      const row = await grantRow(trx, c, key.id, grantId);
      if (action === 'key.retire_grant') {
        const me = c.grants?.principals ?? [];
        const retiring = row.retiring !== null && me.includes(row.retiring);
        const grantee = me.includes(row.grantee) && !!c.grants?.operation && row.operations.includes(c.grants.operation);
        if (!retiring && !grantee) await authorize(c, action, key);
      }
      await trx.deleteFrom('key_grants').where('tenant_id', '=', row.tenant_id).where('id', '=', row.id).execute();
      await core.audit.inTransaction(
        trx,
        event(core, c, action, key.id, 'allowed', undefined, { endedGrant: row.id, grantee: row.grantee }),
      );
      return toGrant(row);
    }),
  );
}
