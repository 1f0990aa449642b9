import { createPublicKey, diffieHellman, type KeyObject } from 'node:crypto';
import type { Core } from '../context.ts';
import { invalid, KmsError } from '../errors.ts';
import { NODE_CURVE, type Curve } from '../keyspec.ts';
import type { Caller } from '../types.ts';
import { allowed, run } from './pipeline.ts';
import { useKey } from './usekey.ts';

/**
 * ECDH between the key's private half (kept here) and a peer's public key (SPKI DER on the same
 * curve): the raw shared secret, the X coordinate of the shared point (SEC 1), as OpenSSL derives it.
 * Only a key made for key agreement (`deriveBits`) takes part, never a signing key.
 */
export async function deriveSharedSecret(core: Core, c: Caller, keyId: string, peerSpki: Uint8Array, opts: { activeOnly?: boolean } = {}) {
  return run(core, c, 'key.derive_shared_secret', keyId, async () => {
    let peer: KeyObject;
    try {
      peer = createPublicKey({ key: Buffer.from(peerSpki), format: 'der', type: 'spki' });
    } catch {
      throw invalid('the peer public key is not a DER SubjectPublicKeyInfo', 'public_key');
    }
    const { key, version, loaded } = await useKey(core, c, 'key.derive_shared_secret', keyId, 'deriveBits', undefined, opts.activeOnly);
    if (key.kind !== 'EC' || !key.curve)
      throw new KmsError('unsupported', `key agreement needs an EC key; this key is ${key.kind}`, 'key_usage');
    if (peer.asymmetricKeyType !== 'ec' || peer.asymmetricKeyDetails?.namedCurve !== NODE_CURVE[key.curve as Curve])
      throw invalid(`the peer public key must be an EC key on ${key.curve}, the curve of this key`, 'public_key');
    let secret: Buffer;
    try {
      secret = diffieHellman({ privateKey: loaded.key, publicKey: peer });
    } catch {
      throw invalid('the peer public key is not a valid point for key agreement', 'public_key');
    }
    await allowed(core, c, 'key.derive_shared_secret', keyId, { version, algorithm: 'ECDH' }).catch((e: unknown) => {
      secret.fill(0);
      throw e;
    });
    return { keyId: key.id, version, secret };
  });
}
