import { invalid, KmsError } from './errors.ts';

/** `OKP`: an Edwards-curve signing key (RFC 8037's name), Ed25519 only. */
export const KEY_KINDS = ['oct', 'RSA', 'EC', 'HMAC', 'OKP'] as const;
export type KeyKind = (typeof KEY_KINDS)[number];
export const CURVES = ['P-256', 'P-384', 'P-521', 'secp256k1'] as const;
export type Curve = (typeof CURVES)[number];
export const OKP_CURVES = ['Ed25519'] as const;
export type OkpCurve = (typeof OKP_CURVES)[number];
/** `deriveBits`: key agreement (ECDH) with a peer's public key, WebCrypto's and JWK's name for it. */
export const KEY_OPS = ['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey', 'deriveBits'] as const;
export type KeyOp = (typeof KEY_OPS)[number];

/** What a key is; `size` is in bits (AES key, RSA modulus, HMAC key = hash output). */
export interface KeySpec {
  kind: KeyKind;
  size?: number | undefined;
  curve?: Curve | OkpCurve | undefined;
}

export const SIZES: Record<'oct' | 'RSA' | 'HMAC', readonly number[]> = {
  oct: [128, 192, 256],
  RSA: [2048, 3072, 4096],
  HMAC: [256, 384, 512],
};

const ALLOWED_OPS: Record<KeyKind, readonly KeyOp[]> = {
  oct: ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'],
  RSA: ['sign', 'verify', 'encrypt', 'decrypt', 'wrapKey', 'unwrapKey'],
  EC: ['sign', 'verify', 'deriveBits'],
  HMAC: ['sign', 'verify'],
  OKP: ['sign', 'verify'],
};

/** An EC key signs unless made for key agreement: one key, one purpose, as the vendors have it. */
const DEFAULT_OPS: Record<KeyKind, readonly KeyOp[]> = { ...ALLOWED_OPS, EC: ['sign', 'verify'] };

export const allowedOps = (kind: KeyKind) => ALLOWED_OPS[kind];

export const CURVE_BYTES: Record<Curve, number> = { 'P-256': 32, 'P-384': 48, 'P-521': 66, secp256k1: 32 };
export const NODE_CURVE: Record<Curve, string> = {
  'P-256': 'prime256v1',
  'P-384': 'secp384r1',
  'P-521': 'secp521r1',
  secp256k1: 'secp256k1',
};

export function normalizeSpec(spec: KeySpec): KeySpec {
  if (!KEY_KINDS.includes(spec.kind))
    throw invalid(`unknown key type '${String(spec.kind)}'; expected one of ${KEY_KINDS.join(', ')}`, 'key_spec');
  if (spec.kind === 'EC' || spec.kind === 'OKP') {
    const curves: readonly string[] = spec.kind === 'EC' ? CURVES : OKP_CURVES;
    if (!spec.curve || !curves.includes(spec.curve)) throw invalid(`an ${spec.kind} key needs a curve: ${curves.join(', ')}`, 'key_spec');
    if (spec.size !== undefined) throw invalid(`an ${spec.kind} key takes a curve, not a size`, 'key_spec');
    return { kind: spec.kind, curve: spec.curve };
  }
  if (spec.curve !== undefined) throw invalid(`a ${spec.kind} key takes a size, not a curve`, 'key_spec');
  const sizes = SIZES[spec.kind];
  if (spec.size === undefined || !sizes.includes(spec.size)) {
    throw invalid(`a ${spec.kind} key size must be one of ${sizes.join(', ')} bits`, 'key_spec');
  }
  return { kind: spec.kind, size: spec.size };
}

/** Operations default to everything the kind allows; asking for one the kind cannot do is an error. */
export function normalizeOps(kind: KeyKind, ops: readonly string[] | undefined): KeyOp[] {
  const allowed = ALLOWED_OPS[kind];
  if (ops === undefined) return [...DEFAULT_OPS[kind]];
  if (ops.length === 0) throw invalid('a key needs at least one operation', 'key_ops');
  const out: KeyOp[] = [];
  for (const op of ops) {
    if (!(KEY_OPS as readonly string[]).includes(op))
      throw invalid(`unknown operation '${op}'; expected one of ${KEY_OPS.join(', ')}`, 'key_ops');
    if (!allowed.includes(op as KeyOp)) throw invalid(`a ${kind} key cannot '${op}'; it can ${allowed.join(', ')}`, 'key_ops');
    if (!out.includes(op as KeyOp)) out.push(op as KeyOp);
  }
  return out;
}

export const HASHES = ['SHA-1', 'SHA-256', 'SHA-384', 'SHA-512'] as const;
export type HashName = (typeof HASHES)[number];
export const HASH_BYTES: Record<HashName, number> = { 'SHA-1': 20, 'SHA-256': 32, 'SHA-384': 48, 'SHA-512': 64 };
export const NODE_HASH: Record<HashName, string> = {
  'SHA-1': 'sha1',
  'SHA-256': 'sha256',
  'SHA-384': 'sha384',
  'SHA-512': 'sha512',
};

/** An HMAC key's hash is fixed by its size (the key is as long as the hash output). */
export function hmacHash(size: number): HashName {
  const h = ({ 256: 'SHA-256', 384: 'SHA-384', 512: 'SHA-512' } as const)[size as 256 | 384 | 512];
  if (!h) throw new KmsError('internal', 'HMAC key with an unexpected size');
  return h;
}
