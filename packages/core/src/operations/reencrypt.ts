import type { Core } from '../context.ts';
import type { OaepParams } from '../crypto.ts';
import type { KeyOp } from '../keyspec.ts';
import type { Caller } from '../types.ts';
import { decrypt, encrypt, rsaDecrypt, rsaEncrypt } from './encrypt.ts';
import { run } from './pipeline.ts';
import { useKey } from './usekey.ts';

/**
 * What is re-encrypted: core's symmetric blob (it names its key and version; `dataKey` for a data
 * key, `expectKeyId` to insist on the key), or RSA-OAEP ciphertext, which names nothing, under `keyId`.
 */
export type ReEncryptSource =
  | { ciphertext: Uint8Array; context?: Uint8Array | undefined; dataKey?: boolean | undefined; expectKeyId?: string | undefined }
  | { ciphertext: Uint8Array; keyId: string; oaep: OaepParams };

/** Where it goes: AES-GCM under `keyId` (a data key stays a data key), or RSA-OAEP under `keyId`. */
export type ReEncryptTarget = { keyId: string; context?: Uint8Array | undefined } | { keyId: string; oaep: OaepParams };

/**
 * Decrypts under the source key and encrypts under the destination, the plaintext never leaving core.
 * Each half is the ordinary operation, so the caller needs decrypt on the source and encrypt on the
 * destination, and each is audited on its own key (`details.reencrypt` says which half it was).
 * The destination is checked first: a caller who may not encrypt under it gets nothing decrypted.
 */
export async function reEncrypt(core: Core, c: Caller, from: ReEncryptSource, to: ReEncryptTarget, opts: { activeOnly?: boolean } = {}) {
  const half = (role: 'source' | 'destination'): Caller => ({ ...c, details: { ...c.details, reencrypt: role } });
  const dataKey = !('oaep' in from) && !!from.dataKey;
  const destOps: KeyOp[] = 'oaep' in to || dataKey ? ['encrypt', 'wrapKey'] : ['encrypt'];
  await run(core, half('destination'), 'key.encrypt', to.keyId, () =>
    useKey(core, half('destination'), 'key.encrypt', to.keyId, destOps, undefined, opts.activeOnly),
  );
  const src =
    'oaep' in from
      ? await rsaDecrypt(core, half('source'), from.keyId, from.ciphertext, from.oaep, opts)
      : await decrypt(core, half('source'), from.ciphertext, from.context, { ...opts, dataKey, expectKeyId: from.expectKeyId });
  try {
    const out =
      'oaep' in to
        ? await rsaEncrypt(core, half('destination'), to.keyId, src.plaintext, to.oaep, opts)
        : await encrypt(core, half('destination'), to.keyId, src.plaintext, to.context, { ...opts, dataKey });
    return { sourceKeyId: src.keyId, keyId: out.keyId, version: out.version, ciphertext: out.ciphertext };
  } finally {
    src.plaintext.fill(0);
  }
}
