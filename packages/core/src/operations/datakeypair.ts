import { ciphertextAad, encodeCiphertext, encodeHeader } from '../ciphertext.ts';
import type { Core } from '../context.ts';
import { gcmEncrypt } from '../crypto.ts';
import { invalid, KmsError } from '../errors.ts';
import { normalizeSpec, type KeySpec } from '../keyspec.ts';
import { generateMaterial } from '../material.ts';
import type { Caller } from '../types.ts';
import { allowed, run } from './pipeline.ts';
import { useKey } from './usekey.ts';

/**
 * A fresh RSA or EC key pair for use outside the KMS: the public key (SPKI DER) in clear, the private
 * key (PKCS#8 DER) sealed under the AES key as ordinary ciphertext, so that `decrypt` with the same
 * `context` gives it back; the private key in clear only when asked for. The pair is generated only
 * once the key may be used, so a refused caller costs no key generation.
 */
export async function generateDataKeyPair(
  core: Core,
  c: Caller,
  keyId: string,
  spec: KeySpec,
  opts: { context?: Uint8Array | undefined; withPlaintext?: boolean; activeOnly?: boolean } = {},
) {
  return run(core, c, 'key.generate_data_key', keyId, async () => {
    if (spec.kind !== 'RSA' && spec.kind !== 'EC') throw invalid('a data key pair is RSA or EC', 'key_spec');
    const pairSpec = normalizeSpec(spec);
    const { key, version, loaded } = await useKey(
      core,
      c,
      'key.generate_data_key',
      keyId,
      ['encrypt', 'wrapKey'],
      undefined,
      opts.activeOnly,
    );
    if (key.kind !== 'oct')
      throw new KmsError('unsupported', `data key pairs are sealed with an AES key; this key is ${key.kind}`, 'key_usage');
    const pair = await generateMaterial(pairSpec);
    const privateKey = pair.secret;
    const header = encodeHeader(key.id, version, 'data');
    const ciphertext = encodeCiphertext(header, gcmEncrypt(loaded, privateKey, ciphertextAad(header, opts.context)));
    const label = pairSpec.kind === 'RSA' ? `RSA-${pairSpec.size}` : `EC-${pairSpec.curve}`;
    await allowed(core, c, 'key.generate_data_key', keyId, { version, pair: label }).catch((e: unknown) => {
      privateKey.fill(0);
      throw e;
    });
    const withPlaintext = opts.withPlaintext ?? true;
    if (!withPlaintext) privateKey.fill(0);
    return {
      keyId: key.id,
      version,
      spec: pairSpec,
      publicKey: pair.spki!,
      privateKeyCiphertext: ciphertext,
      privateKey: withPlaintext ? privateKey : undefined,
    };
  });
}
