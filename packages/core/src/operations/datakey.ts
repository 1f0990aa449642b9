import { randomBytes } from 'node:crypto';
import { ciphertextAad, encodeCiphertext, encodeHeader } from '../ciphertext.ts';
import type { Core } from '../context.ts';
import { gcmEncrypt } from '../crypto.ts';
import { invalid, KmsError } from '../errors.ts';
import { MAX_DATA_KEY_BYTES, type Caller } from '../types.ts';
import { allowed, run } from './pipeline.ts';
import { useKey } from './usekey.ts';

/** A fresh data key sealed under the key; the plaintext is returned only when asked for. */
export async function generateDataKey(
  core: Core,
  c: Caller,
  keyId: string,
  bytes: number,
  opts: { context?: Uint8Array; withPlaintext?: boolean; activeOnly?: boolean } = {},
) {
  return run(core, c, 'key.generate_data_key', keyId, async () => {
    if (!Number.isInteger(bytes) || bytes < 1 || bytes > MAX_DATA_KEY_BYTES)
      throw invalid(`a data key is 1 to ${MAX_DATA_KEY_BYTES} bytes`, 'data_key_size');
    const { key, version, loaded } = await useKey(
      core,
      c,
      'key.generate_data_key',
      keyId,
      ['encrypt', 'wrapKey'],
      undefined,
      opts.activeOnly,
    );
    if (key.kind !== 'oct') throw new KmsError('unsupported', `data keys are sealed with an AES key; this key is ${key.kind}`, 'key_usage');
    const plaintext = randomBytes(bytes);
    const header = encodeHeader(key.id, version, 'dataKey');
    const ciphertext = encodeCiphertext(header, gcmEncrypt(loaded, plaintext, ciphertextAad(header, opts.context)));
    await allowed(core, c, 'key.generate_data_key', keyId, { version, bytes }).catch((e: unknown) => {
      plaintext.fill(0);
      throw e;
    });
    const withPlaintext = opts.withPlaintext ?? true;
    if (!withPlaintext) plaintext.fill(0);
    return { keyId: key.id, version, keySize: key.size, ciphertext, plaintext: withPlaintext ? plaintext : undefined };
  });
}
