import { createHash, generateKeyPair, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import type { Transaction } from 'kysely';
import type { Core } from '../context.ts';
import type { Database } from '../db/schema.ts';
import { invalid, KmsError } from '../errors.ts';
import { sealMaterial } from '../rootkey.ts';
import type { Action, Caller, KeyRecord } from '../types.ts';
import { change } from './change.ts';
import { checkSameMaterial, fingerprint, fingerprintBeforeDeletion, fingerprintKey } from './import-fingerprint.ts';
import { tokenAad, unwrapImport, type WrappedMaterial } from './import-unwrap.ts';
import { allowed, authorize, run } from './pipeline.ts';
import { insertVersion, keyRow, toRecord, type KeyPatch, type KeyRow } from './rows.ts';

const generateKeyPairAsync = promisify(generateKeyPair);

/** How long a wrapping key and its import token are good for (Huawei: 24 hours). */
export const IMPORT_TOKEN_TTL_MS = 24 * 3_600_000;
export const IMPORT_WRAP_HASHES = ['SHA-1', 'SHA-256'] as const;
export type ImportWrapHash = (typeof IMPORT_WRAP_HASHES)[number];

export interface ImportParameters {
  keyId: string;
  /** Base64: the bearer secret that names the wrapping key at import time. */
  token: string;
  /** The wrapping key's public half (SubjectPublicKeyInfo DER): RSA-2048, for RSA-OAEP with `hash`. */
  publicKey: Buffer;
  hash: ImportWrapHash;
  expiresAt: Date;
}

const tokenId = (token: Buffer) => createHash('sha256').update(token).digest('hex');

const notPending = (k: { state: string }) =>
  new KmsError('failed_precondition', `the key is ${k.state.replace('_', ' ')}, not pending import`, 'not_pending_import');

/**
 * A change of a key's material under its row lock, audited with `details`: `mutate` gets the store's
 * fingerprint key (read before the transaction), as material brought or deleted is fingerprinted.
 */
async function materialChange(
  core: Core,
  c: Caller,
  action: Action,
  keyId: string,
  details: Record<string, unknown> | undefined,
  mutate: (row: KeyRow, trx: Transaction<Database>, macKey: Buffer) => Promise<KeyPatch>,
): Promise<KeyRecord> {
  const macKey = await fingerprintKey(core);
  return change(core, c, action, keyId, (row, trx) => mutate(row, trx, macKey), details);
}

/** Every version of the key: its material goes, the key row stays. */
const deleteVersions = (trx: Transaction<Database>, row: KeyRow) =>
  trx.deleteFrom('key_versions').where('tenant_id', '=', row.tenant_id).where('key_id', '=', row.id).execute();

/**
 * A fresh RSA wrapping key for one import into one key pending import: the caller wraps its material
 * under the public half with RSA-OAEP (`hash`) and brings it back with the token.
 */
export async function importParameters(core: Core, c: Caller, keyId: string, hash: ImportWrapHash): Promise<ImportParameters> {
  return run(core, c, 'key.import', keyId, async () => {
    const key = toRecord(await keyRow(core, c, keyId));
    await authorize(c, 'key.import', key, core.db);
    if (!(IMPORT_WRAP_HASHES as readonly string[]).includes(hash))
      throw invalid(`the wrapping hash is SHA-1 or SHA-256; got '${hash}'`, 'wrapping_algorithm');
    if (key.state !== 'pending_import') throw notPending(key);
    const { privateKey, publicKey } = await generateKeyPairAsync('rsa', { modulusLength: 2048, publicExponent: 65537 });
    const token = randomBytes(150);
    const id = tokenId(token);
    const expiresAt = new Date(core.now().getTime() + IMPORT_TOKEN_TTL_MS);
    const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
    const root = core.keyring.current;
    await core.db
      .insertInto('import_tokens')
      .values({
        id,
        tenant_id: key.tenantId,
        key_id: key.id,
        hash,
        root_key_id: root.id,
        material: sealMaterial(root, pkcs8, tokenAad(key.tenantId, key.id, id)),
        expires_at: expiresAt,
        created_at: core.now(),
      })
      .execute();
    pkcs8.fill(0);
    await allowed(core, c, 'key.import', key.id, { importParameters: true, hash, expiresAt: expiresAt.toISOString() });
    return {
      keyId: key.id,
      token: token.toString('base64'),
      publicKey: publicKey.export({ format: 'der', type: 'spki' }),
      hash,
      expiresAt,
    };
  });
}

export interface MaterialImport extends WrappedMaterial {
  token: string;
  /** After this, the material is deleted and the key is pending import again; none: never. */
  expiresAt?: Date | undefined;
}

/**
 * The key's material, brought by the customer; the key becomes active. The token is spent. Material
 * brought again after a deletion must be the material deleted (its fingerprint, never the material, is kept).
 */
export async function importKeyMaterial(core: Core, c: Caller, keyId: string, input: MaterialImport): Promise<KeyRecord> {
  const details = { expiresAt: input.expiresAt?.toISOString() ?? null };
  return materialChange(core, c, 'key.import', keyId, details, async (row, trx, macKey) => {
    if (row.state !== 'pending_import') throw notPending(row);
    const now = core.now();
    if (input.expiresAt && !(input.expiresAt.getTime() > now.getTime()))
      throw invalid('the material expiration time must be later than now', 'import_expiry');
    const raw = Buffer.from(input.token, 'base64');
    const t = raw.length
      ? await trx
          .selectFrom('import_tokens')
          .selectAll()
          .where('id', '=', tokenId(raw))
          .where('tenant_id', '=', row.tenant_id)
          .executeTakeFirst()
      : undefined;
    if (!t) throw invalid('the import token is not valid: get new import parameters', 'import_token');
    if (t.key_id !== row.id) throw invalid('the import token was issued for another key', 'import_token_key');
    if (new Date(t.expires_at) <= now) throw invalid('the import token has expired: get new import parameters', 'import_token_expired');
    const m = unwrapImport(core, t, input, row);
    try {
      const fp = fingerprint(macKey, row.tenant_id, row.id, m);
      checkSameMaterial(row.material_fingerprint, fp);
      await trx.deleteFrom('import_tokens').where('id', '=', t.id).execute();
      await deleteVersions(trx, row);
      await insertVersion(core, trx, row.tenant_id, row.id, row.current_version, m);
      return { state: 'active', activated_at: now, material_expires_at: input.expiresAt ?? null, material_fingerprint: fp };
    } finally {
      m.secret.fill(0);
    }
  });
}

/**
 * Deletes a key's imported material at the caller's wish: the key is pending import again. Only secret
 * material (a private key cannot be deleted, only expire), and only from a key that can be used or is disabled.
 */
export const deleteImportedMaterial = (core: Core, c: Caller, keyId: string): Promise<KeyRecord> => removeMaterial(core, c, keyId, false);

function removeMaterial(core: Core, c: Caller, keyId: string, expired: boolean): Promise<KeyRecord> {
  return materialChange(core, c, 'key.delete_material', keyId, expired ? { expired: true } : undefined, async (row, trx, macKey) => {
    if (row.origin !== 'imported') throw new KmsError('failed_precondition', 'the key material was not imported', 'not_external');
    if (!expired && (row.kind === 'RSA' || row.kind === 'EC'))
      throw new KmsError('failed_precondition', 'imported private key material cannot be deleted', 'asymmetric_material');
    if (!['active', 'deactivated', 'pre_active'].includes(row.state))
      throw new KmsError('failed_precondition', `the key is ${row.state.replace('_', ' ')}: its material cannot be deleted`, 'key_state');
    const fp = await fingerprintBeforeDeletion(core, trx, row, macKey);
    await deleteVersions(trx, row);
    return { state: 'pending_import', activated_at: null, material_expires_at: null, material_fingerprint: fp };
  });
}

/** Deletes imported material whose expiry has passed, private keys included (run periodically by the gateway, with deletions). */
export async function expireImportedMaterial(core: Core): Promise<number> {
  const due = await core.db
    .selectFrom('keys')
    .select(['id', 'tenant_id', 'owner'])
    .where('material_expires_at', '<=', core.now())
    .where('state', 'in', ['active', 'deactivated', 'pre_active'])
    .limit(1000)
    .execute();
  let n = 0;
  for (const k of due) {
    const system = { tenantId: k.tenant_id, dialect: k.owner ?? 'core', principal: 'system:material-expiry' };
    await removeMaterial(core, system, k.id, true).then(
      () => n++,
      () => undefined,
    );
  }
  return n;
}
