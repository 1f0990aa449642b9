import { ciphertextAad, encodeCiphertext, encodeHeader, parseCiphertext } from '../ciphertext.ts';
import type { Core } from '../context.ts';
import { gcmDecrypt, gcmEncrypt, oaepDecrypt, oaepEncrypt, type OaepParams } from '../crypto.ts';
import { invalid, KmsError } from '../errors.ts';
import type { KeyOp } from '../keyspec.ts';
import { MAX_PLAINTEXT, type Action, type Caller } from '../types.ts';
import { allowed, run } from './pipeline.ts';
import { useKey } from './usekey.ts';

/**
 * AES-GCM under the key's current version; `context` is bound as AAD and needed again to decrypt.
 * `dataKey` seals the plaintext as a data key (it then opens only as one), for re-encrypting data keys.
 */
export async function encrypt(
  core: Core,
  c: Caller,
  keyId: string,
  plaintext: Uint8Array,
  context?: Uint8Array,
  opts: { activeOnly?: boolean; dataKey?: boolean } = {},
) {
  return run(core, c, 'key.encrypt', keyId, async () => {
    if (plaintext.length > MAX_PLAINTEXT) throw invalid(`plaintext is at most ${MAX_PLAINTEXT} bytes`, 'plaintext_size');
    const ops: KeyOp[] = opts.dataKey ? ['encrypt', 'wrapKey'] : ['encrypt'];
    const { key, version, loaded } = await useKey(core, c, 'key.encrypt', keyId, ops, undefined, opts.activeOnly);
    if (key.kind !== 'oct')
      throw new KmsError('unsupported', `symmetric encryption needs an AES key; this key is ${key.kind} (use RSA-OAEP)`, 'key_usage');
    const header = encodeHeader(key.id, version, opts.dataKey ? 'dataKey' : 'data');
    const ciphertext = encodeCiphertext(header, gcmEncrypt(loaded, plaintext, ciphertextAad(header, context)));
    await allowed(core, c, 'key.encrypt', keyId, { version });
    return { keyId: key.id, version, keySize: key.size, ciphertext };
  });
}

/** Finds key and version from the ciphertext; `expectKeyId`, when given, must match it. */
export async function decrypt(
  core: Core,
  c: Caller,
  ciphertext: Uint8Array,
  context?: Uint8Array,
  opts: { expectKeyId?: string; dataKey?: boolean; activeOnly?: boolean } = {},
) {
  const action: Action = 'key.decrypt';
  let keyId: string | null = opts.expectKeyId ?? null;
  return run(core, c, action, keyId, async () => {
    const parsed = parseCiphertext(ciphertext);
    keyId = parsed.keyId;
    // A data key opens only as a data key, and data only as data: the format byte is authenticated.
    if ((parsed.kind === 'dataKey') !== !!opts.dataKey)
      throw invalid(opts.dataKey ? 'this is not a data key' : 'this is a data key: decrypt it as a data key', 'ciphertext');
    if (opts.expectKeyId !== undefined && opts.expectKeyId.toLowerCase() !== parsed.keyId)
      throw invalid('the ciphertext was made with another key', 'ciphertext');
    const ops: KeyOp[] = opts.dataKey ? ['decrypt', 'unwrapKey'] : ['decrypt'];
    const { loaded } = await useKey(core, c, action, parsed.keyId, ops, parsed.version, opts.activeOnly);
    const plaintext = gcmDecrypt(loaded, parsed.parts, ciphertextAad(parsed.header, context));
    await allowed(core, c, action, parsed.keyId, { version: parsed.version });
    return { keyId: parsed.keyId, version: parsed.version, plaintext };
  });
}

export async function rsaEncrypt(
  core: Core,
  c: Caller,
  keyId: string,
  plaintext: Uint8Array,
  params: OaepParams,
  opts: { activeOnly?: boolean } = {},
) {
  return run(core, c, 'key.encrypt', keyId, async () => {
    const { key, version, loaded } = await useKey(core, c, 'key.encrypt', keyId, ['encrypt', 'wrapKey'], undefined, opts.activeOnly);
    if (key.kind !== 'RSA') throw new KmsError('unsupported', `RSA-OAEP needs an RSA key; this key is ${key.kind}`, 'key_usage');
    const ciphertext = oaepEncrypt(loaded, plaintext, params);
    await allowed(core, c, 'key.encrypt', keyId, { version, scheme: 'RSA-OAEP' });
    return { keyId, version, ciphertext };
  });
}

export async function rsaDecrypt(
  core: Core,
  c: Caller,
  keyId: string,
  ciphertext: Uint8Array,
  params: OaepParams,
  opts: { version?: number; activeOnly?: boolean } = {},
) {
  return run(core, c, 'key.decrypt', keyId, async () => {
    const { key, version, loaded } = await useKey(core, c, 'key.decrypt', keyId, ['decrypt', 'unwrapKey'], opts.version, opts.activeOnly);
    if (key.kind !== 'RSA') throw new KmsError('unsupported', `RSA-OAEP needs an RSA key; this key is ${key.kind}`, 'key_usage');
    const plaintext = await oaepDecrypt(loaded, ciphertext, params);
    await allowed(core, c, 'key.decrypt', keyId, { version, scheme: 'RSA-OAEP' });
    return { keyId, version, plaintext };
  });
}
