import { createPrivateKey, createPublicKey, generateKeyPair as nodeGenerateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { webcrypto } from './provider.ts';

type CryptoKey = import('node:crypto').webcrypto.CryptoKey;

export type KeyType = 'EC' | 'RSA';
export type EcCurve = 'P-256' | 'P-384' | 'P-521';

export type KeyPairSpec = { type: 'EC'; curve: EcCurve } | { type: 'RSA'; bits: 2048 | 3072 | 4096 };

const NODE_CURVE: Record<EcCurve, string> = { 'P-256': 'prime256v1', 'P-384': 'secp384r1', 'P-521': 'secp521r1' };
const CURVE_OF_NODE_NAME = new Map(Object.entries(NODE_CURVE).map(([curve, node]) => [node, curve as EcCurve]));
/** Hash matched to the key's strength, as RFC 5480 and most CAs pair them. */
const EC_HASH: Record<EcCurve, string> = { 'P-256': 'SHA-256', 'P-384': 'SHA-384', 'P-521': 'SHA-512' };

const generate = promisify(nodeGenerateKeyPair);

export interface GeneratedKeyPair {
  spkiDer: Buffer;
  pkcs8Der: Buffer;
}

/** node:crypto's asynchronous generator keeps RSA generation off the event loop. */
export async function generateKeyPair(spec: KeyPairSpec): Promise<GeneratedKeyPair> {
  const { publicKey, privateKey } =
    spec.type === 'EC'
      ? await generate('ec', { namedCurve: NODE_CURVE[spec.curve] })
      : await generate('rsa', { modulusLength: spec.bits, publicExponent: 0x10001 });
  return {
    spkiDer: publicKey.export({ type: 'spki', format: 'der' }),
    pkcs8Der: privateKey.export({ type: 'pkcs8', format: 'der' }),
  };
}

/** What a public or private key is, read by OpenSSL; undefined for anything but RSA and named NIST curves. */
export function describeKey(key: KeyObject): { type: 'EC'; curve: EcCurve } | { type: 'RSA'; bits: number; exponent: bigint } | undefined {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec') {
    const curve = details.namedCurve ? CURVE_OF_NODE_NAME.get(details.namedCurve) : undefined;
    return curve ? { type: 'EC', curve } : undefined;
  }
  if (key.asymmetricKeyType === 'rsa' && details.modulusLength !== undefined && details.publicExponent !== undefined) {
    return { type: 'RSA', bits: details.modulusLength, exponent: details.publicExponent };
  }
  return undefined;
}

export function spkiOfPrivateKey(key: KeyObject): Buffer {
  return createPublicKey(key).export({ type: 'spki', format: 'der' });
}

export interface SigningKey {
  key: CryptoKey;
  /** What @peculiar/x509 needs to sign with `key`: the algorithm and the hash. */
  algorithm: { name: string; hash: string };
}

/**
 * Imports a PKCS#8 private key, non-extractable, for signing certificates. Returns undefined when the
 * key is not one a CA may use (RSA >= 2048 or a NIST curve).
 */
export async function importSigningKey(pkcs8Der: Uint8Array): Promise<SigningKey | undefined> {
  const described = describeKey(createPrivateKey({ key: Buffer.from(pkcs8Der), format: 'der', type: 'pkcs8' }));
  if (!described) return undefined;
  if (described.type === 'EC') {
    const algorithm = { name: 'ECDSA', hash: EC_HASH[described.curve] };
    const key = await webcrypto.subtle.importKey('pkcs8', pkcs8Der, { name: 'ECDSA', namedCurve: described.curve }, false, ['sign']);
    return { key: key as CryptoKey, algorithm };
  }
  if (described.bits < 2048) return undefined;
  const algorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  const key = await webcrypto.subtle.importKey('pkcs8', pkcs8Der, algorithm, false, ['sign']);
  return { key: key as CryptoKey, algorithm };
}
