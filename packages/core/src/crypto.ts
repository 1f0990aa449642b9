import { createPublicKey, type KeyObject } from 'node:crypto';
import type { KeySpec } from './keyspec.ts';

/** A key version ready for use: parsed once, cached by the key store. */
export interface LoadedKey {
  spec: KeySpec;
  /** Secret key (oct, HMAC) or private key (RSA, EC, OKP). */
  key: KeyObject;
  publicKey?: KeyObject | undefined;
  /** EC only: the public point, for verifying over a pre-hashed digest (Node cannot). */
  ec?: { point: Uint8Array } | undefined;
}

/** A public-only key: verify, encrypt and wrap; any private operation fails in OpenSSL, and usage checks refuse it first. */
export function loadPublicKey(spec: KeySpec, publicKey: KeyObject): LoadedKey {
  return { spec, key: publicKey, publicKey };
}

export function loadKey(spec: KeySpec, key: KeyObject): LoadedKey {
  if (spec.kind === 'oct' || spec.kind === 'HMAC') return { spec, key };
  const publicKey = createPublicKey(key);
  if (spec.kind !== 'EC') return { spec, key, publicKey };
  const jwk = publicKey.export({ format: 'jwk' });
  const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
  return { spec, key, publicKey, ec: { point } };
}

export { gcmDecrypt, gcmEncrypt, randomIv, type GcmParts } from './crypto-aes.ts';
export {
  JOSE_ALGS,
  joseSignParams,
  signWith,
  verifyWith,
  type JoseAlg,
  type SignParams,
  type SignScheme,
} from './crypto-sign.ts';
export { oaepDecrypt, oaepEncrypt, rsaPkcs1v15Decrypt, type OaepParams } from './crypto-rsa.ts';
