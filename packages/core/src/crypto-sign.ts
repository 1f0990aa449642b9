import { constants, createHmac, publicDecrypt, sign as nodeSign, timingSafeEqual, verify as nodeVerify } from 'node:crypto';
import { offload } from './runtime/offload.ts';
import { invalid, KmsError } from './errors.ts';
import { HASH_BYTES, NODE_HASH, hmacHash, type Curve, type HashName, type KeySpec } from './keyspec.ts';
import type { LoadedKey } from './crypto.ts';
import { emsaPssEncode, emsaPssVerify, DIGEST_INFO } from './crypto-rsa.ts';

// ---- Signatures ------------------------------------------------------------------------------

/** `EdDSA` is pure Ed25519 (RFC 8032): it hashes the message itself, so there is no pre-hashed form. */
export type SignScheme = 'RSASSA-PKCS1-v1_5' | 'RSA-PSS' | 'ECDSA' | 'HMAC' | 'EdDSA';

export interface SignParams {
  scheme: SignScheme;
  hash: HashName;
  /** RSA-PSS salt length in bytes; default: the hash length (RFC 7518 §3.5). */
  saltLength?: number | undefined;
  /** The input is already the digest of the message under `hash`. */
  prehashed?: boolean | undefined;
  /** ECDSA encoding: 'p1363' is the fixed-length r||s of JOSE, 'der' the ASN.1 SEQUENCE of X9.62. */
  ecdsaFormat?: 'der' | 'p1363' | undefined;
}

export const JOSE_ALGS = {
  RS256: { scheme: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
  RS384: { scheme: 'RSASSA-PKCS1-v1_5', hash: 'SHA-384' },
  RS512: { scheme: 'RSASSA-PKCS1-v1_5', hash: 'SHA-512' },
  PS256: { scheme: 'RSA-PSS', hash: 'SHA-256' },
  PS384: { scheme: 'RSA-PSS', hash: 'SHA-384' },
  PS512: { scheme: 'RSA-PSS', hash: 'SHA-512' },
  ES256: { scheme: 'ECDSA', hash: 'SHA-256', curve: 'P-256' },
  ES384: { scheme: 'ECDSA', hash: 'SHA-384', curve: 'P-384' },
  ES512: { scheme: 'ECDSA', hash: 'SHA-512', curve: 'P-521' },
  HS256: { scheme: 'HMAC', hash: 'SHA-256' },
  HS384: { scheme: 'HMAC', hash: 'SHA-384' },
  HS512: { scheme: 'HMAC', hash: 'SHA-512' },
} as const satisfies Record<string, { scheme: SignScheme; hash: HashName; curve?: Curve }>;
export type JoseAlg = keyof typeof JOSE_ALGS;

/** JOSE names bind the curve too (ES256 is P-256 only, RFC 7518 §3.4). */
export function joseSignParams(alg: string, spec: KeySpec): SignParams {
  const a = (JOSE_ALGS as Record<string, { scheme: SignScheme; hash: HashName; curve?: Curve }>)[alg];
  if (!a) throw invalid(`unknown signature algorithm '${alg}'; expected one of ${Object.keys(JOSE_ALGS).join(', ')}`, 'algorithm');
  if (a.curve && spec.curve !== a.curve)
    throw new KmsError('unsupported', `${alg} needs a ${a.curve} key; this key is ${spec.kind} ${spec.curve ?? spec.size}`, 'algorithm');
  return { scheme: a.scheme, hash: a.hash, ecdsaFormat: 'p1363' };
}

function checkScheme(k: LoadedKey, p: SignParams) {
  const kind = k.spec.kind;
  const ok =
    (p.scheme === 'ECDSA' && kind === 'EC') ||
    (p.scheme === 'HMAC' && kind === 'HMAC') ||
    (p.scheme === 'EdDSA' && kind === 'OKP') ||
    ((p.scheme === 'RSASSA-PKCS1-v1_5' || p.scheme === 'RSA-PSS') && kind === 'RSA');
  if (!ok) throw new KmsError('unsupported', `${p.scheme} cannot be used with a ${kind} key`, 'algorithm');
  if (!Object.hasOwn(HASH_BYTES, p.hash)) throw invalid(`unknown hash '${p.hash}'`, 'algorithm');
  if (p.scheme === 'HMAC' && p.prehashed) throw invalid('an HMAC is computed over the message, not a digest', 'algorithm');
  if (p.scheme === 'EdDSA' && p.prehashed) throw new KmsError('unsupported', 'Ed25519 signs the message itself, not a digest', 'algorithm');
  if (p.scheme === 'HMAC' && p.hash !== hmacHash(k.spec.size!))
    throw new KmsError('unsupported', `this HMAC key is for ${hmacHash(k.spec.size!)}`, 'algorithm');
}

function checkDigest(p: SignParams, input: Uint8Array) {
  if (p.prehashed && input.length !== HASH_BYTES[p.hash])
    throw invalid(`a ${p.hash} digest is ${HASH_BYTES[p.hash]} bytes; got ${input.length}`, 'digest_length');
}

function saltOf(k: LoadedKey, p: SignParams): number {
  const s = p.saltLength ?? HASH_BYTES[p.hash];
  const max = Math.ceil((k.spec.size! - 1) / 8) - HASH_BYTES[p.hash] - 2;
  if (!Number.isInteger(s) || s < 0 || s > max)
    throw invalid(`RSA-PSS salt length must be 0..${max} bytes for this key and hash`, 'salt_length');
  return s;
}

const nodeSignAsync = (alg: string | null, data: Uint8Array, key: Parameters<typeof nodeSign>[2]) =>
  new Promise<Buffer>((res, rej) => nodeSign(alg, data, key, (err, sig) => (err ? rej(err) : res(sig))));
const nodeVerifyAsync = (alg: string | null, data: Uint8Array, key: Parameters<typeof nodeVerify>[2], sig: Uint8Array) =>
  new Promise<boolean>((res, rej) => nodeVerify(alg, data, key, sig, (err, ok) => (err ? rej(err) : res(ok))));

export async function signWith(k: LoadedKey, p: SignParams, input: Uint8Array): Promise<Buffer> {
  checkScheme(k, p);
  checkDigest(p, input);
  const h = NODE_HASH[p.hash];
  switch (p.scheme) {
    case 'HMAC':
      return createHmac(h, k.key).update(input).digest();
    case 'EdDSA':
      return nodeSignAsync(null, input, k.key);
    case 'RSASSA-PKCS1-v1_5':
      if (p.prehashed)
        return offload<Buffer>({
          op: 'privateEncrypt',
          key: k.key,
          padding: constants.RSA_PKCS1_PADDING,
          data: Buffer.concat([DIGEST_INFO[p.hash], input]),
        });
      return nodeSignAsync(h, input, { key: k.key, padding: constants.RSA_PKCS1_PADDING });
    case 'RSA-PSS': {
      const salt = saltOf(k, p);
      if (p.prehashed)
        return offload<Buffer>({
          op: 'privateEncrypt',
          key: k.key,
          padding: constants.RSA_NO_PADDING,
          data: emsaPssEncode(input, k.spec.size!, p.hash, salt),
        });
      return nodeSignAsync(h, input, { key: k.key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: salt });
    }
    case 'ECDSA': {
      const format = p.ecdsaFormat ?? 'der';
      if (p.prehashed) {
        return offload<Buffer>({
          op: 'ecdsaSign',
          curve: k.spec.curve as Curve,
          key: k.key,
          digest: input,
          format: format === 'der' ? 'der' : 'compact',
        });
      }
      const dsaEncoding = format === 'der' ? 'der' : 'ieee-p1363';
      // P-256 signs in ~20 us: handing each one to libuv's pool woke a thread per request, and the event
      // loop lost the CPU at every wake-up; our workers take a turn's requests in one message (OVH ES256,
      // seven A/B pairs: 1,810 -> 2,350 req/s). Longer signatures (RSA, P-384, P-521) gain nothing from
      // that and keep libuv's four threads.
      if (k.spec.curve === 'P-256') return offload<Buffer>({ op: 'sign', alg: h, key: k.key, data: input, dsaEncoding });
      return nodeSignAsync(h, input, { key: k.key, dsaEncoding });
    }
  }
}

export async function verifyWith(k: LoadedKey, p: SignParams, input: Uint8Array, signature: Uint8Array): Promise<boolean> {
  checkScheme(k, p);
  checkDigest(p, input);
  const h = NODE_HASH[p.hash];
  try {
    switch (p.scheme) {
      case 'HMAC': {
        const mac = createHmac(h, k.key).update(input).digest();
        return mac.length === signature.length && timingSafeEqual(mac, signature);
      }
      case 'EdDSA':
        return await nodeVerifyAsync(null, input, k.publicKey!, signature);
      case 'RSASSA-PKCS1-v1_5': {
        if (!p.prehashed) return await nodeVerifyAsync(h, input, { key: k.publicKey!, padding: constants.RSA_PKCS1_PADDING }, signature);
        if (signature.length !== k.spec.size! / 8) return false;
        const got = publicDecrypt({ key: k.publicKey!, padding: constants.RSA_PKCS1_PADDING }, signature);
        const want = Buffer.concat([DIGEST_INFO[p.hash], input]);
        return got.length === want.length && timingSafeEqual(got, want);
      }
      case 'RSA-PSS': {
        const salt = saltOf(k, p);
        if (!p.prehashed)
          return await nodeVerifyAsync(
            h,
            input,
            { key: k.publicKey!, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: salt },
            signature,
          );
        if (signature.length !== k.spec.size! / 8) return false;
        const em = publicDecrypt({ key: k.publicKey!, padding: constants.RSA_NO_PADDING }, signature);
        return emsaPssVerify(input, em, k.spec.size!, p.hash, salt);
      }
      case 'ECDSA': {
        const format = p.ecdsaFormat ?? 'der';
        if (p.prehashed)
          return await offload<boolean>({
            op: 'ecdsaVerify',
            curve: k.spec.curve as Curve,
            point: k.ec!.point,
            digest: input,
            signature,
            format: format === 'der' ? 'der' : 'compact',
          });
        return await nodeVerifyAsync(h, input, { key: k.publicKey!, dsaEncoding: format === 'der' ? 'der' : 'ieee-p1363' }, signature);
      }
    }
  } catch {
    // A signature that does not even parse is simply not valid.
    return false;
  }
}
