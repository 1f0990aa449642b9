import {
  constants,
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPublicKey,
  privateDecrypt,
  publicDecrypt,
  publicEncrypt,
  randomBytes,
  randomFillSync,
  sign as nodeSign,
  timingSafeEqual,
  verify as nodeVerify,
  type KeyObject,
} from 'node:crypto';
import { offload } from './runtime/offload.ts';
import { invalid, KmsError } from './errors.ts';
import { HASH_BYTES, NODE_HASH, hmacHash, type Curve, type HashName, type KeySpec } from './keyspec.ts';

/** A key version ready for use: parsed once, cached by the key store. */
export interface LoadedKey {
  spec: KeySpec;
  /** Secret key (oct, HMAC) or private key (RSA, EC). */
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

// ---- AES-GCM (symmetric encrypt/decrypt) ----------------------------------------------------

export interface GcmParts {
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

const gcmName = (bits: number) => `aes-${bits}-gcm` as 'aes-256-gcm';

/**
 * 96-bit GCM nonces cut from a buffer the CSPRNG refills every 256 nonces: one call per request cost
 * ~9 us on a loaded event loop, the pooled slice well under one. Each slice is copied out and used once.
 */
const IV_POOL = Buffer.alloc(12 * 256);
let ivAt = IV_POOL.length;
export function randomIv(): Buffer {
  if (ivAt === IV_POOL.length) {
    randomFillSync(IV_POOL);
    ivAt = 0;
  }
  return Buffer.from(IV_POOL.subarray(ivAt, (ivAt += 12)));
}

export function gcmEncrypt(k: LoadedKey, plaintext: Uint8Array, aad: Uint8Array | undefined): GcmParts {
  const iv = randomIv();
  const c = createCipheriv(gcmName(k.spec.size!), k.key, iv);
  if (aad && aad.length) c.setAAD(aad);
  const ciphertext = Buffer.concat([c.update(plaintext), c.final()]);
  return { iv, ciphertext, tag: c.getAuthTag() };
}

export function gcmDecrypt(k: LoadedKey, parts: GcmParts, aad: Uint8Array | undefined): Buffer {
  if (parts.iv.length !== 12 || parts.tag.length !== 16) throw invalid('the ciphertext is malformed', 'ciphertext');
  const d = createDecipheriv(gcmName(k.spec.size!), k.key, parts.iv);
  if (aad && aad.length) d.setAAD(aad);
  d.setAuthTag(parts.tag);
  try {
    return Buffer.concat([d.update(parts.ciphertext), d.final()]);
  } catch {
    // Wrong context, wrong key, or a modified ciphertext: the tag tells them apart from nothing else.
    throw invalid('the ciphertext cannot be decrypted with this key and context', 'ciphertext');
  }
}

// ---- RSA-OAEP --------------------------------------------------------------------------------

export interface OaepParams {
  hash: HashName;
  label?: Uint8Array | undefined;
}

export function oaepEncrypt(k: LoadedKey, plaintext: Uint8Array, p: OaepParams): Buffer {
  const max = k.spec.size! / 8 - 2 * HASH_BYTES[p.hash] - 2;
  if (plaintext.length > max) throw invalid(`RSA-OAEP with ${p.hash} on a ${k.spec.size}-bit key encrypts at most ${max} bytes`, 'plaintext_size');
  return publicEncrypt({ key: k.publicKey!, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: NODE_HASH[p.hash], oaepLabel: p.label }, plaintext);
}

export async function oaepDecrypt(k: LoadedKey, ciphertext: Uint8Array, p: OaepParams): Promise<Buffer> {
  if (ciphertext.length !== k.spec.size! / 8) throw invalid(`an RSA ciphertext for this key is ${k.spec.size! / 8} bytes; got ${ciphertext.length}`, 'ciphertext');
  try {
    return await offload<Buffer>({ op: 'privateDecrypt', key: k.key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: NODE_HASH[p.hash], oaepLabel: p.label, data: ciphertext });
  } catch {
    throw invalid('the ciphertext cannot be decrypted with this key', 'ciphertext');
  }
}

// ---- Signatures ------------------------------------------------------------------------------

export type SignScheme = 'RSASSA-PKCS1-v1_5' | 'RSA-PSS' | 'ECDSA' | 'HMAC';

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
  if (a.curve && spec.curve !== a.curve) throw new KmsError('unsupported', `${alg} needs a ${a.curve} key; this key is ${spec.kind} ${spec.curve ?? spec.size}`, 'algorithm');
  return { scheme: a.scheme, hash: a.hash, ecdsaFormat: 'p1363' };
}

function checkScheme(k: LoadedKey, p: SignParams) {
  const kind = k.spec.kind;
  const ok = (p.scheme === 'ECDSA' && kind === 'EC') || (p.scheme === 'HMAC' && kind === 'HMAC') || ((p.scheme === 'RSASSA-PKCS1-v1_5' || p.scheme === 'RSA-PSS') && kind === 'RSA');
  if (!ok) throw new KmsError('unsupported', `${p.scheme} cannot be used with a ${kind} key`, 'algorithm');
  if (!(p.hash in HASH_BYTES)) throw invalid(`unknown hash '${p.hash}'`, 'algorithm');
  if (p.scheme === 'HMAC' && p.prehashed) throw invalid('an HMAC is computed over the message, not a digest', 'algorithm');
  if (p.scheme === 'HMAC' && p.hash !== hmacHash(k.spec.size!)) throw new KmsError('unsupported', `this HMAC key is for ${hmacHash(k.spec.size!)}`, 'algorithm');
}

function checkDigest(p: SignParams, input: Uint8Array) {
  if (p.prehashed && input.length !== HASH_BYTES[p.hash]) throw invalid(`a ${p.hash} digest is ${HASH_BYTES[p.hash]} bytes; got ${input.length}`, 'digest_length');
}

function saltOf(k: LoadedKey, p: SignParams): number {
  const s = p.saltLength ?? HASH_BYTES[p.hash];
  const max = Math.ceil((k.spec.size! - 1) / 8) - HASH_BYTES[p.hash] - 2;
  if (!Number.isInteger(s) || s < 0 || s > max) throw invalid(`RSA-PSS salt length must be 0..${max} bytes for this key and hash`, 'salt_length');
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
    case 'RSASSA-PKCS1-v1_5':
      if (p.prehashed) return offload<Buffer>({ op: 'privateEncrypt', key: k.key, padding: constants.RSA_PKCS1_PADDING, data: Buffer.concat([DIGEST_INFO[p.hash], input]) });
      return nodeSignAsync(h, input, { key: k.key, padding: constants.RSA_PKCS1_PADDING });
    case 'RSA-PSS': {
      const salt = saltOf(k, p);
      if (p.prehashed) return offload<Buffer>({ op: 'privateEncrypt', key: k.key, padding: constants.RSA_NO_PADDING, data: emsaPssEncode(input, k.spec.size!, p.hash, salt) });
      return nodeSignAsync(h, input, { key: k.key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: salt });
    }
    case 'ECDSA': {
      const format = p.ecdsaFormat ?? 'der';
      if (p.prehashed) {
        return offload<Buffer>({ op: 'ecdsaSign', curve: k.spec.curve!, key: k.key, digest: input, format: format === 'der' ? 'der' : 'compact' });
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
      case 'RSASSA-PKCS1-v1_5': {
        if (!p.prehashed) return await nodeVerifyAsync(h, input, { key: k.publicKey!, padding: constants.RSA_PKCS1_PADDING }, signature);
        if (signature.length !== k.spec.size! / 8) return false;
        const got = publicDecrypt({ key: k.publicKey!, padding: constants.RSA_PKCS1_PADDING }, signature);
        const want = Buffer.concat([DIGEST_INFO[p.hash], input]);
        return got.length === want.length && timingSafeEqual(got, want);
      }
      case 'RSA-PSS': {
        const salt = saltOf(k, p);
        if (!p.prehashed) return await nodeVerifyAsync(h, input, { key: k.publicKey!, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: salt }, signature);
        if (signature.length !== k.spec.size! / 8) return false;
        const em = publicDecrypt({ key: k.publicKey!, padding: constants.RSA_NO_PADDING }, signature);
        return emsaPssVerify(input, em, k.spec.size!, p.hash, salt);
      }
      case 'ECDSA': {
        const format = p.ecdsaFormat ?? 'der';
        if (p.prehashed) return await offload<boolean>({ op: 'ecdsaVerify', curve: k.spec.curve!, point: k.ec!.point, digest: input, signature, format: format === 'der' ? 'der' : 'compact' });
        return await nodeVerifyAsync(h, input, { key: k.publicKey!, dsaEncoding: format === 'der' ? 'der' : 'ieee-p1363' }, signature);
      }
    }
  } catch {
    // A signature that does not even parse is simply not valid.
    return false;
  }
}

/** DER prefix of DigestInfo per hash (RFC 8017 §9.2 note 1). */
const DIGEST_INFO: Record<HashName, Buffer> = {
  'SHA-1': Buffer.from('3021300906052b0e03021a05000414', 'hex'),
  'SHA-256': Buffer.from('3031300d060960864801650304020105000420', 'hex'),
  'SHA-384': Buffer.from('3041300d060960864801650304020205000430', 'hex'),
  'SHA-512': Buffer.from('3051300d060960864801650304020305000440', 'hex'),
};

function mgf1(seed: Buffer, len: number, hash: HashName): Buffer {
  const out: Buffer[] = [];
  let have = 0;
  for (let counter = 0; have < len; counter++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    const block = createHash(NODE_HASH[hash]).update(seed).update(c).digest();
    out.push(block);
    have += block.length;
  }
  return Buffer.concat(out).subarray(0, len);
}

/** EMSA-PSS-ENCODE (RFC 8017 §9.1.1) over a given digest, left-padded to the modulus length for the raw RSA step. */
function emsaPssEncode(mHash: Uint8Array, modBits: number, hash: HashName, sLen: number): Buffer {
  const hLen = HASH_BYTES[hash];
  const emBits = modBits - 1;
  const emLen = Math.ceil(emBits / 8);
  if (emLen < hLen + sLen + 2) throw invalid('the key is too short for this hash and salt length', 'salt_length');
  const salt = randomBytes(sLen);
  const H = createHash(NODE_HASH[hash]).update(Buffer.alloc(8)).update(mHash).update(salt).digest();
  const db = Buffer.concat([Buffer.alloc(emLen - sLen - hLen - 2), Buffer.from([1]), salt]);
  const mask = mgf1(H, emLen - hLen - 1, hash);
  for (let i = 0; i < db.length; i++) db[i]! ^= mask[i]!;
  db[0]! &= 0xff >> (8 * emLen - emBits);
  const em = Buffer.concat([db, H, Buffer.from([0xbc])]);
  const modLen = Math.ceil(modBits / 8);
  return emLen < modLen ? Buffer.concat([Buffer.alloc(modLen - emLen), em]) : em;
}

/** EMSA-PSS-VERIFY (RFC 8017 §9.1.2). */
function emsaPssVerify(mHash: Uint8Array, raw: Buffer, modBits: number, hash: HashName, sLen: number): boolean {
  const hLen = HASH_BYTES[hash];
  const emBits = modBits - 1;
  const emLen = Math.ceil(emBits / 8);
  let em = raw;
  if (em.length > emLen) {
    if (em.subarray(0, em.length - emLen).some((b) => b !== 0)) return false;
    em = em.subarray(em.length - emLen);
  }
  if (em.length !== emLen || emLen < hLen + sLen + 2 || em[emLen - 1] !== 0xbc) return false;
  const maskedDb = Buffer.from(em.subarray(0, emLen - hLen - 1));
  const H = em.subarray(emLen - hLen - 1, emLen - 1);
  const topBits = 8 * emLen - emBits;
  if (topBits && maskedDb[0]! >> (8 - topBits) !== 0) return false;
  const mask = mgf1(H, emLen - hLen - 1, hash);
  for (let i = 0; i < maskedDb.length; i++) maskedDb[i]! ^= mask[i]!;
  maskedDb[0]! &= 0xff >> topBits;
  const psLen = emLen - hLen - sLen - 2;
  for (let i = 0; i < psLen; i++) if (maskedDb[i] !== 0) return false;
  if (maskedDb[psLen] !== 1) return false;
  const salt = maskedDb.subarray(maskedDb.length - sLen);
  const H2 = createHash(NODE_HASH[hash]).update(Buffer.alloc(8)).update(mHash).update(salt).digest();
  return timingSafeEqual(H, H2);
}

// ---- RSAES-PKCS1-v1_5 decryption with implicit rejection ------------------------------------

/** 1 when a === b, else 0, without a data-dependent branch (0 <= a, b < 2^31). */
const ctEq = (a: number, b: number) => (((a ^ b) - 1) >>> 31) & 1;
/** 1 when a < b, else 0 (0 <= a, b < 2^30). */
const ctLt = (a: number, b: number) => ((a - b) >>> 31) & 1;
/** a when bit is 1, b when bit is 0. */
const ctSelect = (bit: number, a: number, b: number) => b ^ ((a ^ b) & -bit);

/** The PRF of the implicit-rejection method: HMAC-SHA256(kdk, counter16 || label || bits16), concatenated. */
function implicitRejectionPrf(kdk: Buffer, label: string, bytes: number): Buffer {
  const out: Buffer[] = [];
  const bits = Buffer.alloc(2);
  bits.writeUInt16BE(bytes * 8);
  for (let i = 0, have = 0; have < bytes; i++) {
    const counter = Buffer.alloc(2);
    counter.writeUInt16BE(i);
    const block = createHmac('sha256', kdk).update(counter).update(label, 'latin1').update(bits).digest();
    out.push(block);
    have += block.length;
  }
  return Buffer.concat(out).subarray(0, bytes);
}

/**
 * RSAES-PKCS1-v1_5 decryption (RFC 8017 §7.2.2) for callers that must accept the legacy padding
 * (Gmail S/MIME: `RSA/ECB/PKCS1Padding`), which Node 20 refuses in `privateDecrypt` since
 * CVE-2023-46809 (the Marvin attack). The RSA operation itself is OpenSSL's raw, blinded one
 * (RSA_NO_PADDING); the EME-PKCS1-v1_5 check runs over every byte with masks, no early exit, and a bad
 * padding is never reported: it yields a synthetic message derived from the private key and the
 * ciphertext (the "implicit rejection" of draft-irtf-cfrg-rsa-guidance, as OpenSSL 3.2+ does by
 * default). So there is no error oracle, and both outcomes cost the same work. The caller sees a
 * wrong key where a padding error would have been.
 */
export function rsaPkcs1v15Decrypt(k: LoadedKey, ciphertext: Uint8Array): Buffer {
  if (k.spec.kind !== 'RSA') throw new KmsError('unsupported', `RSA decryption needs an RSA key; this key is ${k.spec.kind}`, 'key_usage');
  const jwk = k.key.export({ format: 'jwk' });
  const n = Buffer.from(jwk.n!, 'base64url');
  const size = n[0] === 0 ? n.length - 1 : n.length;
  if (ciphertext.length !== size) throw invalid(`an RSA ciphertext for this key is ${size} bytes; got ${ciphertext.length}`, 'ciphertext');
  let em: Buffer;
  try {
    em = privateDecrypt({ key: k.key, padding: constants.RSA_NO_PADDING }, ciphertext);
  } catch {
    // Only a ciphertext not below the modulus gets here: a public property, not a padding oracle.
    throw invalid('the ciphertext is not a valid RSA ciphertext for this key', 'ciphertext');
  }
  if (em.length < size) em = Buffer.concat([Buffer.alloc(size - em.length), em]);
  const d = Buffer.from(jwk.d!, 'base64url');
  const dPadded = d.length < size ? Buffer.concat([Buffer.alloc(size - d.length), d]) : d;
  const kdk = createHmac('sha256', createHash('sha256').update(dPadded).digest()).update(ciphertext).digest();
  dPadded.fill(0);
  d.fill(0);
  const candidates = implicitRejectionPrf(kdk, 'length', 256);
  const synthetic = implicitRejectionPrf(kdk, 'message', size);
  const maxSepOffset = size - 2 - 8;
  let lenMask = maxSepOffset;
  lenMask |= lenMask >> 1;
  lenMask |= lenMask >> 2;
  lenMask |= lenMask >> 4;
  lenMask |= lenMask >> 8;
  let syntheticLength = 0;
  for (let i = 0; i < candidates.length; i += 2) {
    const candidate = ((candidates[i]! << 8) | candidates[i + 1]!) & lenMask;
    syntheticLength = ctSelect(ctLt(candidate, maxSepOffset), candidate, syntheticLength);
  }
  let good = ctEq(em[0]!, 0) & ctEq(em[1]!, 2);
  let found = 0;
  let zeroIndex = 0;
  for (let i = 2; i < size; i++) {
    const isZero = ctEq(em[i]!, 0);
    zeroIndex = ctSelect(isZero & (found ^ 1), i, zeroIndex);
    found |= isZero;
  }
  good &= found;
  // At least eight bytes of non-zero padding: the separator sits at index 10 or later.
  good &= ctLt(zeroIndex, 10) ^ 1;
  const length = ctSelect(good, size - zeroIndex - 1, syntheticLength);
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) out[i] = ctSelect(good, em[i]!, synthetic[i]!);
  em.fill(0);
  const message = Buffer.from(out.subarray(size - length));
  out.fill(0);
  return message;
}
