import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Transaction } from 'kysely';
import type { Core } from '../context.ts';
import type { Database } from '../db/schema.ts';
import { invalid } from '../errors.ts';
import { materialAad, openMaterial } from '../rootkey.ts';
import { SealedSecrets } from '../secrets.ts';
import { storedVersion, type KeyRow } from './rows.ts';

/** The MAC key of every material fingerprint: random, made once per store, sealed under the root key. */
export const FINGERPRINT_KEY_SECRET = 'material/fingerprint-key';

export const fingerprintKey = (core: Core): Promise<Buffer> =>
  new SealedSecrets(core.db, () => core.keyring).putIfAbsent(FINGERPRINT_KEY_SECRET, randomBytes(32));

/**
 * What identifies imported material once it is deleted, without keeping it: an HMAC under a key only
 * this store has, bound to the tenant and key. A key pair is identified by its public key (which the
 * private key determines): its encoding does not change between OpenSSL versions, a private key's may.
 */
export function fingerprint(macKey: Buffer, tenantId: string, keyId: string, m: { secret: Buffer; spki?: Buffer | undefined }): Buffer {
  return createHmac('sha256', macKey)
    .update(`polykms/material-fingerprint/v1\0${tenantId}\0${keyId}\0`)
    .update(m.spki ?? m.secret)
    .digest();
}

/** Material brought to a key whose material was deleted must be that material (compared in constant time). */
export function checkSameMaterial(stored: Uint8Array | null, fp: Buffer) {
  if (stored && !(stored.length === fp.length && timingSafeEqual(stored, fp)))
    throw invalid('this key had other material before its material was deleted: import that material again', 'import_material_differs');
}

/**
 * The fingerprint of the material about to be deleted: the one kept since its import, or for material
 * imported before fingerprints were kept, made now from the current version.
 */
export async function fingerprintBeforeDeletion(core: Core, trx: Transaction<Database>, row: KeyRow, macKey: Buffer) {
  if (row.material_fingerprint) return Buffer.from(row.material_fingerprint);
  const v = await storedVersion(trx, row.tenant_id, row.id, row.current_version);
  if (v?.public_spki) return fingerprint(macKey, row.tenant_id, row.id, { secret: Buffer.alloc(0), spki: Buffer.from(v.public_spki) });
  if (!v?.material || !v.root_key_id) return null;
  const secret = openMaterial(core.keyring, v.root_key_id, v.material, materialAad(row.tenant_id, row.id, row.current_version));
  try {
    return fingerprint(macKey, row.tenant_id, row.id, { secret });
  } finally {
    secret.fill(0);
  }
}
