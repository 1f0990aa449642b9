import { constants, createHash, createHmac, privateDecrypt, publicEncrypt, randomBytes, timingSafeEqual } from 'node:crypto';
import { offload } from './runtime/offload.ts';
import { invalid, KmsError } from './errors.ts';
import { HASH_BYTES, NODE_HASH, type HashName } from './keyspec.ts';
import type { LoadedKey } from './crypto.ts';

// ---- RSA-OAEP --------------------------------------------------------------------------------

export interface OaepParams {
  hash: HashName;
  label?: Uint8Array | undefined;
}

export function oaepEncrypt(k: LoadedKey, plaintext: Uint8Array, p: OaepParams): Buffer {
  const max = k.spec.size! / 8 - 2 * HASH_BYTES[p.hash] - 2;
  if (plaintext.length > max)
    throw invalid(`RSA-OAEP with ${p.hash} on a ${k.spec.size}-bit key encrypts at most ${max} bytes`, 'plaintext_size');
  return publicEncrypt(
    { key: k.publicKey!, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: NODE_HASH[p.hash], oaepLabel: p.label },
    plaintext,
  );
}

export async function oaepDecrypt(k: LoadedKey, ciphertext: Uint8Array, p: OaepParams): Promise<Buffer> {
  if (ciphertext.length !== k.spec.size! / 8)
    throw invalid(`an RSA ciphertext for this key is ${k.spec.size! / 8} bytes; got ${ciphertext.length}`, 'ciphertext');
  try {
    return await offload<Buffer>({
      op: 'privateDecrypt',
      key: k.key,
      padding: constants.RSA_PKCS1_OAEP_PADDING,
      oaepHash: NODE_HASH[p.hash],
      oaepLabel: p.label,
      data: ciphertext,
    });
  } catch {
    throw invalid('the ciphertext cannot be decrypted with this key', 'ciphertext');
  }
}

/** DER prefix of DigestInfo per hash (RFC 8017 §9.2 note 1). */
export const DIGEST_INFO: Record<HashName, Buffer> = {
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
export function emsaPssEncode(mHash: Uint8Array, modBits: number, hash: HashName, sLen: number): Buffer {
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
export function emsaPssVerify(mHash: Uint8Array, raw: Buffer, modBits: number, hash: HashName, sLen: number): boolean {
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
