import type { Kysely } from 'kysely';
import type { Database } from './db/schema.ts';
import { KmsError } from './errors.ts';
import type { Keyring } from './rootkey.ts';

/**
 * Records the configured root keys and refuses to start when the store holds material under a root
 * key this process does not have (a wrong POLYKMS_ROOT_KEY would otherwise fail on first use).
 */
export async function registerRootKeys(db: Kysely<Database>, keyring: Keyring) {
  for (const rk of keyring.byId.values()) {
    const existing = await db.selectFrom('root_keys').select('check_value').where('id', '=', rk.id).executeTakeFirst();
    if (existing && existing.check_value !== rk.checkValue)
      throw new KmsError('internal', `root key ${rk.id} does not match the one recorded in the store`);
    if (!existing)
      await db
        .insertInto('root_keys')
        .values({ id: rk.id, check_value: rk.checkValue })
        .onConflict((c) => c.column('id').doNothing())
        .execute();
  }
  const used = await db
    .selectFrom('key_versions')
    .select('root_key_id')
    .distinct()
    .where('root_key_id', 'is not', null)
    .union(db.selectFrom('sealed_secrets').select('root_key_id').distinct())
    .execute();
  const missing = [...new Set(used.map((u) => u.root_key_id!))].filter((id) => !keyring.byId.has(id));
  if (missing.length)
    throw new KmsError(
      'internal',
      `the store holds key material under root key(s) ${missing.join(', ')}, which are not configured; set POLYKMS_ROOT_KEY (and POLYKMS_ROOT_KEYS_PREVIOUS during a rotation)`,
    );
}
