import { sql, type Transaction } from 'kysely';
import type { Core } from '../context.ts';
import type { Database } from '../db/schema.ts';
import { KmsError } from '../errors.ts';
import { nextState, type KeyState, type Transition } from '../states.ts';
import type { Action, Caller, KeyRecord } from '../types.ts';
import { authorize, event, run } from './pipeline.ts';
import { keyRow, mapWriteError, scopedKey, toRecord, type KeyPatch, type KeyRow } from './rows.ts';

/** Every process evicts a changed key from its caches on this channel. */
export const KEY_CHANNEL = 'polykms_keys';

export const notify = (trx: Transaction<Database>, tenantId: string, keyId: string) =>
  sql`select pg_notify(${KEY_CHANNEL}, ${scopedKey(tenantId, keyId)})`.execute(trx);

export const transition = (row: KeyRow, t: Transition): KeyState => nextState(row.state as KeyState, t);

/** Runs a change on one key under a row lock, audits it in the same transaction, and tells other processes. */
export async function change(
  core: Core,
  c: Caller,
  action: Action,
  keyId: string,
  mutate: (row: KeyRow, trx: Transaction<Database>) => Promise<KeyPatch | undefined>,
  details?: Record<string, unknown>,
): Promise<KeyRecord> {
  keyId = typeof keyId === 'string' ? keyId.toLowerCase() : keyId;
  return run(core, c, action, keyId, async () => {
    try {
      const rec = await core.db.transaction().execute(async (trx) => {
        const row = await keyRow(core, c, keyId, trx, true);
        await authorize(c, action, toRecord(row), trx);
        const patch = await mutate(row, trx).catch((e: unknown) => {
          if (e instanceof KmsError) e.key ??= { kind: row.kind, ops: row.ops, state: row.state };
          throw e;
        });
        const updated = await trx
          .updateTable('keys')
          .set({ ...patch, revision: row.revision + 1, updated_at: core.now() })
          .where('tenant_id', '=', row.tenant_id)
          .where('id', '=', keyId)
          .returningAll()
          .executeTakeFirstOrThrow();
        await core.audit.inTransaction(
          trx,
          event(core, c, action, keyId, 'allowed', undefined, { from: row.state, to: updated.state, ...details }),
        );
        await notify(trx, c.tenantId, keyId);
        return toRecord(updated);
      });
      core.loader.invalidate(c.tenantId, keyId);
      core.cache.evictKey(scopedKey(c.tenantId, keyId));
      await core.fence(scopedKey(c.tenantId, keyId));
      return rec;
    } catch (e) {
      throw mapWriteError(e);
    }
  });
}
