import { createPublicKey } from 'node:crypto';
import { isUuid } from '../ciphertext.ts';
import type { Core } from '../context.ts';
import { loadKey, loadPublicKey, type LoadedKey } from '../crypto.ts';
import { KmsError, invalid, notFound } from '../errors.ts';
import type { KeyOp } from '../keyspec.ts';
import { materialKeyObject } from '../material.ts';
import { materialAad, openMaterial } from '../rootkey.ts';
import { assertUsable, OP_USE } from '../states.ts';
import type { Action, Caller, KeyRecord } from '../types.ts';
import { authorize, checkTenant } from './pipeline.ts';
import { canSee, scopedKey, specOf, storedVersion, toRecord } from './rows.ts';

/**
 * The warm path is one batched round trip (the key row and its version, no material); a cache miss
 * adds one read of the sealed material.
 */
export async function useKey(
  core: Core,
  c: Caller,
  action: Action,
  keyId: string,
  op: KeyOp | KeyOp[],
  version?: number,
  activeOnly = false,
): Promise<{ key: KeyRecord; version: number; loaded: LoadedKey }> {
  checkTenant(c);
  if (!isUuid(keyId)) throw notFound();
  const row = await core.loader.load(c.tenantId, keyId.toLowerCase(), version ?? null);
  if (!row || !canSee(c, row)) throw notFound();
  const key = toRecord(row);
  await authorize(c, action, key, core.db);
  const ops = Array.isArray(op) ? op : [op];
  try {
    if (!ops.some((o) => key.ops.includes(o)))
      throw new KmsError(
        'unsupported',
        `this key is not allowed to ${ops.join(' or ')}; its operations are ${key.ops.join(', ')}`,
        'key_usage',
      );
    assertUsable(key.state, OP_USE[ops[0]!], activeOnly || !!c.policy?.activeOnly);
    if (key.materialExpiresAt && key.materialExpiresAt <= core.now())
      throw new KmsError('failed_precondition', 'the imported key material has expired: the key is pending import', 'material_expired');
  } catch (e) {
    (e as KmsError).key = { kind: key.kind, ops: key.ops, state: key.state };
    throw e;
  }
  // The key exists but not this version: the ciphertext is not ours, not a missing key.
  if (row.v_version === null) throw invalid('the ciphertext names a key version that does not exist', 'ciphertext');
  const v = row.v_version;
  const cacheId = scopedKey(key.tenantId, key.id);
  let loaded = core.cache.get(cacheId, v);
  if (!loaded) {
    const m = await storedVersion(core.db, key.tenantId, key.id, v);
    if (m?.material && m.root_key_id) {
      const secret = openMaterial(core.keyring, m.root_key_id, m.material, materialAad(key.tenantId, key.id, v));
      loaded = loadKey(specOf(key), materialKeyObject(specOf(key), secret));
      secret.fill(0);
    } else if (m?.public_spki && key.state !== 'destroyed' && key.origin === 'imported') {
      // An imported public key: usage checks above already kept it to public operations.
      loaded = loadPublicKey(specOf(key), createPublicKey({ key: Buffer.from(m.public_spki), format: 'der', type: 'spki' }));
    } else {
      throw new KmsError('failed_precondition', 'the key material is destroyed', 'key_state');
    }
    core.cache.set(cacheId, v, loaded);
  }
  return { key, version: v, loaded };
}
