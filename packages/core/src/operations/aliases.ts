import type { Selectable, Transaction } from 'kysely';
import type { Core } from '../context.ts';
import type { Database, KeyAliasesTable } from '../db/schema.ts';
import { invalid, KmsError, notFound } from '../errors.ts';
import { NAME_MAX, type AliasRecord, type Caller, type KeyRecord } from '../types.ts';
import { authorize, checkTenant, event, run } from './pipeline.ts';
import { keyRow, refuseUnstorable, toRecord, visibleTo } from './rows.ts';

/**
 * Aliases: names a key can be used by, any number per key, unique per tenant, movable from one key
 * to another. Managing them is changing the key (`key.update`, authorized on every key concerned).
 * `keys.alias` stays the key's own single alias; a name is resolved as an alias first, then as a key's
 * own alias.
 */

const toAlias = (r: Selectable<KeyAliasesTable>): AliasRecord => ({
  name: r.name,
  keyId: r.key_id,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

function checkName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length < 1 || name.length > NAME_MAX)
    throw invalid(`an alias is 1 to ${NAME_MAX} characters`, 'alias');
  refuseUnstorable('an alias', name, 'alias');
}

const taken = (e: unknown) =>
  (e as { code?: string }).code === '23505' ? new KmsError('conflict', 'this alias is taken', 'alias_exists') : e;

/** The key a change applies to, locked, and the caller's right to change it; a destroyed key takes no alias. */
async function changeable(core: Core, c: Caller, trx: Transaction<Database>, keyId: string): Promise<KeyRecord> {
  const key = toRecord(await keyRow(core, c, keyId.toLowerCase(), trx, true));
  await authorize(c, 'key.update', key, trx);
  if (key.state === 'destroyed')
    throw Object.assign(new KmsError('failed_precondition', 'the key is destroyed', 'key_state'), {
      key: { kind: key.kind, ops: key.ops, state: key.state },
    });
  return key;
}

export async function createAlias(core: Core, c: Caller, keyId: string, name: string): Promise<AliasRecord> {
  return run(core, c, 'key.update', keyId, async () => {
    checkName(name);
    return core.db
      .transaction()
      .execute(async (trx) => {
        const key = await changeable(core, c, trx, keyId);
        // One name, one key: a key's own alias is not taken as an alias of another key.
        const own = await trx
          .selectFrom('keys')
          .select('id')
          .where('tenant_id', '=', key.tenantId)
          .where('alias', '=', name)
          .where('id', '<>', key.id)
          .executeTakeFirst();
        if (own) throw new KmsError('conflict', 'this alias is taken', 'alias_exists');
        const at = core.now();
        const row = await trx
          .insertInto('key_aliases')
          .values({ tenant_id: key.tenantId, name, key_id: key.id, created_at: at, updated_at: at })
          .returningAll()
          .executeTakeFirstOrThrow();
        await core.audit.inTransaction(trx, event(core, c, 'key.update', key.id, 'allowed', undefined, { aliasCreated: name }));
        return toAlias(row);
      })
      .catch((e: unknown) => {
        throw taken(e);
      });
  });
}

/** Moves an alias to another key; the caller must be allowed to change both. */
export async function associateAlias(core: Core, c: Caller, name: string, targetKeyId: string): Promise<AliasRecord> {
  return run(core, c, 'key.update', targetKeyId, async () => {
    checkName(name);
    checkTenant(c);
    return core.db.transaction().execute(async (trx) => {
      // The right to change the target first: a caller without it learns nothing about the alias.
      await authorize(c, 'key.update', toRecord(await keyRow(core, c, targetKeyId.toLowerCase(), trx)), trx);
      const current = await trx
        .selectFrom('key_aliases')
        .selectAll()
        .where('tenant_id', '=', c.tenantId)
        .where('name', '=', name)
        .forUpdate()
        .executeTakeFirst();
      if (!current) throw notFound('alias');
      // Both keys are locked in id order, so two moves in opposite directions cannot deadlock.
      const ids = [...new Set([current.key_id, targetKeyId.toLowerCase()])].sort();
      const keys = new Map<string, KeyRecord>();
      for (const id of ids) keys.set(id, await changeable(core, c, trx, id));
      const target = keys.get(targetKeyId.toLowerCase())!;
      const row = await trx
        .updateTable('key_aliases')
        .set({ key_id: target.id, updated_at: core.now() })
        .where('tenant_id', '=', c.tenantId)
        .where('name', '=', name)
        .returningAll()
        .executeTakeFirstOrThrow();
      await core.audit.inTransaction(
        trx,
        event(core, c, 'key.update', target.id, 'allowed', undefined, { aliasMoved: name, fromKey: current.key_id }),
      );
      return toAlias(row);
    });
  });
}

/** Deletes some of a key's aliases, all or none: a name that is not this key's alias is not found. */
export async function deleteAliases(core: Core, c: Caller, keyId: string, names: readonly string[]): Promise<AliasRecord[]> {
  return run(core, c, 'key.update', keyId, async () => {
    if (!Array.isArray(names) || names.length < 1 || names.length > 100) throw invalid('1 to 100 aliases at once', 'alias');
    for (const n of names) checkName(n);
    const unique = [...new Set(names)];
    return core.db.transaction().execute(async (trx) => {
      const key = await changeable(core, c, trx, keyId);
      const gone = await trx
        .deleteFrom('key_aliases')
        .where('tenant_id', '=', key.tenantId)
        .where('key_id', '=', key.id)
        .where('name', 'in', unique)
        .returningAll()
        .execute();
      if (gone.length !== unique.length) throw notFound('alias');
      await core.audit.inTransaction(trx, event(core, c, 'key.update', key.id, 'allowed', undefined, { aliasesDeleted: unique }));
      return gone.map(toAlias);
    });
  });
}

/** The tenant's aliases (of one key, when given), by name, `limit` at a time after the name `after`. */
export async function listAliases(
  core: Core,
  c: Caller,
  input: { keyId?: string | undefined; limit: number; after?: string | undefined },
): Promise<{ aliases: AliasRecord[]; next: string | null }> {
  return run(core, c, input.keyId ? 'key.get' : 'key.list', input.keyId ?? null, async () => {
    checkTenant(c);
    if (!Number.isInteger(input.limit) || input.limit < 1 || input.limit > 1000) throw invalid('a page holds 1 to 1000 aliases', 'limit');
    if (input.keyId) await authorize(c, 'key.get', toRecord(await keyRow(core, c, input.keyId.toLowerCase())), core.db);
    else await authorize(c, 'key.list');
    let q = core.db
      .selectFrom('key_aliases as a')
      .innerJoin('keys', (j) => j.onRef('keys.tenant_id', '=', 'a.tenant_id').onRef('keys.id', '=', 'a.key_id'))
      .selectAll('a')
      .where('a.tenant_id', '=', c.tenantId)
      .where(visibleTo(c));
    if (input.keyId) q = q.where('a.key_id', '=', input.keyId.toLowerCase());
    if (input.after) q = q.where('a.name', '>', input.after);
    const rows = await q
      .orderBy('a.name')
      .limit(input.limit + 1)
      .execute();
    const page = rows.slice(0, input.limit).map(toAlias);
    await core.audit.record(
      event(core, c, input.keyId ? 'key.get' : 'key.list', input.keyId ?? null, 'allowed', undefined, {
        aliases: page.length,
      }),
    );
    return { aliases: page, next: rows.length > input.limit ? page[page.length - 1]!.name : null };
  });
}

/**
 * The id of the key a name stands for: an alias, else a key's own alias. Not audited by itself: the
 * operation the caller then runs on the key is authorized and audited as usual.
 */
export async function resolveAlias(core: Core, c: Caller, name: string): Promise<string> {
  checkTenant(c);
  if (typeof name !== 'string' || name.length < 1 || name.length > NAME_MAX) throw notFound();
  const alias = await core.db
    .selectFrom('key_aliases as a')
    .innerJoin('keys', (j) => j.onRef('keys.tenant_id', '=', 'a.tenant_id').onRef('keys.id', '=', 'a.key_id'))
    .select('a.key_id')
    .where('a.tenant_id', '=', c.tenantId)
    .where('a.name', '=', name)
    .where(visibleTo(c))
    .executeTakeFirst();
  if (alias) return alias.key_id;
  const own = await core.db
    .selectFrom('keys')
    .select('id')
    .where('tenant_id', '=', c.tenantId)
    .where('alias', '=', name)
    .where(visibleTo(c))
    .executeTakeFirst();
  if (!own) throw notFound();
  return own.id;
}
