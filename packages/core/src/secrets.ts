import type { Kysely } from 'kysely';
import type { Database } from './db/schema.ts';
import { openMaterial, sealMaterial, secretAad, type Keyring } from './rootkey.ts';

/** The gateway's own secrets (CA key, audit MAC key, access-key secrets), sealed under the root key. */
export class SealedSecrets {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly keyring: () => Keyring,
  ) {}

  async put(id: string, secret: Uint8Array) {
    const root = this.keyring().current;
    const sealed = sealMaterial(root, secret, secretAad(id));
    await this.db
      .insertInto('sealed_secrets')
      .values({ id, root_key_id: root.id, sealed })
      .onConflict((c) => c.column('id').doUpdateSet({ root_key_id: root.id, sealed }))
      .execute();
  }

  /** Stores a secret unless one exists (two processes racing keep the first); returns the stored one. */
  async putIfAbsent(id: string, secret: Uint8Array): Promise<Buffer> {
    const root = this.keyring().current;
    await this.db
      .insertInto('sealed_secrets')
      .values({ id, root_key_id: root.id, sealed: sealMaterial(root, secret, secretAad(id)) })
      .onConflict((c) => c.column('id').doNothing())
      .execute();
    return (await this.get(id))!;
  }

  async get(id: string): Promise<Buffer | undefined> {
    const row = await this.db.selectFrom('sealed_secrets').select(['root_key_id', 'sealed']).where('id', '=', id).executeTakeFirst();
    return row ? openMaterial(this.keyring(), row.root_key_id, row.sealed, secretAad(id)) : undefined;
  }

  async delete(id: string) {
    await this.db.deleteFrom('sealed_secrets').where('id', '=', id).execute();
  }
}
