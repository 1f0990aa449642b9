import { createHash, createPrivateKey, createPublicKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import {
  ExpiringCache,
  loadKey,
  oaepDecrypt,
  rsaPkcs1v15Decrypt,
  signWith,
  type HashName,
  type LoadedKey,
  type SignParams,
} from '@polykms/core';
import { badRequest, forbidden } from './errors.ts';
import type { DecryptAlgorithm, SignAlgorithm } from './schemas.ts';

/**
 * Gmail S/MIME private keys: what `wrapprivatekey` accepts, and the two operations Gmail asks for
 * (https://developers.google.com/workspace/cse/reference/private-key-sign, .../private-key-decrypt).
 * The keys are RSA, 2048 to 4096 bits (Google's S/MIME certificate profile).
 */
const PEM_RE = /^-----BEGIN (RSA PRIVATE KEY|PRIVATE KEY)-----\r?\n[A-Za-z0-9+/=\r\n]+-----END \1-----\s*$/;

/** A PKCS#1 (`RSA PRIVATE KEY`) or PKCS#8 (`PRIVATE KEY`) PEM, or the base64 of either DER; out: PKCS#8 DER. */
export function parsePrivateKey(text: string): { pkcs8: Buffer; key: KeyObject } {
  const t = text.trim();
  let key: KeyObject | undefined;
  if (t.startsWith('-----BEGIN')) {
    if (/ENCRYPTED|Proc-Type: 4,ENCRYPTED/.test(t))
      throw badRequest('private_key: an encrypted PEM is not accepted; send the key unencrypted (over TLS)', 'private_key');
    const m = PEM_RE.exec(t);
    if (!m)
      throw badRequest(
        "private_key: expected one PEM block '-----BEGIN RSA PRIVATE KEY-----' (PKCS#1) or '-----BEGIN PRIVATE KEY-----' (PKCS#8)",
        'private_key',
      );
    try {
      key = createPrivateKey({ key: t, format: 'pem' });
    } catch {
      throw badRequest('private_key: the PEM does not hold a readable private key', 'private_key');
    }
  } else {
    if (!/^[A-Za-z0-9+/=\s]+$/.test(t)) throw badRequest('private_key: expected a PEM private key (PKCS#1 or PKCS#8)', 'private_key');
    const der = Buffer.from(t.replace(/\s+/g, ''), 'base64');
    for (const type of ['pkcs8', 'pkcs1'] as const) {
      try {
        key = createPrivateKey({ key: der, format: 'der', type });
        break;
      } catch {
        /* try the other */
      }
    }
    if (!key) throw badRequest('private_key: neither a PEM nor base64 DER of a PKCS#1 or PKCS#8 private key', 'private_key');
  }
  if (key.asymmetricKeyType !== 'rsa')
    throw badRequest(`private_key: an RSA key is needed for S/MIME; this is ${key.asymmetricKeyType}`, 'private_key');
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < 2048 || bits > 4096 || bits % 8 !== 0)
    throw badRequest(`private_key: RSA keys of 2048 to 4096 bits are accepted; this one has ${bits}`, 'private_key');
  return { pkcs8: key.export({ format: 'der', type: 'pkcs8' }), key };
}

/**
 * Parsed private keys by the SHA-256 of their PKCS#8: parsing an RSA key costs about as much as a
 * signature. Each request still opens its wrapped key under the KEK (state, perimeter and audit as
 * before); only the parse is skipped. At most 1,000 keys, each for 5 minutes after it was parsed, so
 * decrypted private keys do not stay in memory for long once unused.
 */
const PARSED_TTL_MS = 5 * 60_000;
const parsed = new ExpiringCache<LoadedKey>(1000);
const spkiHashes = new WeakMap<LoadedKey, Buffer>();

export function loadRsa(pkcs8: Buffer): LoadedKey {
  const id = createHash('sha256').update(pkcs8).digest('base64');
  const hit = parsed.get(id);
  if (hit) return hit;
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
  } catch {
    // Only a blob sealed under this KEK gets here, but its payload is still not ours to trust.
    throw badRequest('wrapped_private_key: not an RSA key', 'wrapped_private_key');
  }
  if (key.asymmetricKeyType !== 'rsa') throw badRequest('wrapped_private_key: not an RSA key', 'wrapped_private_key');
  const k = loadKey({ kind: 'RSA', size: key.asymmetricKeyDetails!.modulusLength! }, key);
  parsed.set(id, k, Date.now() + PARSED_TTL_MS);
  return k;
}

/** base64(SHA-256(SubjectPublicKeyInfo DER)), as Gmail's `spki_hash`. */
export function spkiHash(k: LoadedKey): Buffer {
  let h = spkiHashes.get(k);
  if (!h)
    spkiHashes.set(
      k,
      (h = createHash('sha256')
        .update((k.publicKey ?? createPublicKey(k.key)).export({ format: 'der', type: 'spki' }))
        .digest()),
    );
  return h;
}

/** The key's SPKI hash must be the one Gmail names (token claim or request field), compared in constant time. */
export function checkSpkiHash(k: LoadedKey, claimed: string | undefined, algorithm: string | undefined, where: string, fail = forbidden) {
  if (claimed === undefined) throw fail(`${where}: spki_hash is required to use a wrapped private key`, 'spki_hash');
  if (algorithm !== undefined && algorithm !== 'SHA-256')
    throw fail(`${where}: spki_hash_algorithm must be SHA-256; got '${algorithm}'`, 'spki_hash_algorithm');
  const want = spkiHash(k);
  const got = Buffer.from(claimed.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (got.length !== want.length || !timingSafeEqual(got, want))
    throw fail(`${where}: spki_hash does not match the wrapped private key`, 'spki_hash');
}

const SIGN: Record<SignAlgorithm, { scheme: SignParams['scheme']; hash: HashName }> = {
  SHA1withRSA: { scheme: 'RSASSA-PKCS1-v1_5', hash: 'SHA-1' },
  SHA256withRSA: { scheme: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
  SHA512withRSA: { scheme: 'RSASSA-PKCS1-v1_5', hash: 'SHA-512' },
  'SHA1withRSA/PSS': { scheme: 'RSA-PSS', hash: 'SHA-1' },
  'SHA256withRSA/PSS': { scheme: 'RSA-PSS', hash: 'SHA-256' },
  'SHA512withRSA/PSS': { scheme: 'RSA-PSS', hash: 'SHA-512' },
};

/**
 * Signs Gmail's pre-computed digest of the DER SignedAttributes: core encodes DigestInfo (PKCS#1 v1.5)
 * or EMSA-PSS over the digest and runs OpenSSL's raw RSA. PSS salt: `rsa_pss_salt_length` when given,
 * else the digest length (the RFC 4055 / CMS default for SHA-256 and SHA-512).
 */
export async function signDigest(
  k: LoadedKey,
  algorithm: SignAlgorithm,
  digest: Buffer,
  saltLength: number | null | undefined,
): Promise<Buffer> {
  const a = SIGN[algorithm];
  return signWith(k, { ...a, prehashed: true, saltLength: a.scheme === 'RSA-PSS' ? (saltLength ?? undefined) : undefined }, digest);
}

const OAEP: Record<Exclude<DecryptAlgorithm, 'RSA/ECB/PKCS1Padding'>, HashName> = {
  'RSA/ECB/OAEPwithSHA-1andMGF1Padding': 'SHA-1',
  'RSA/ECB/OAEPwithSHA-256andMGF1Padding': 'SHA-256',
  'RSA/ECB/OAEPwithSHA-512andMGF1Padding': 'SHA-512',
};

/** `RSA/ECB/PKCS1Padding` goes through core's implicit-rejection decryption (see README: Marvin). */
export async function decryptDek(
  k: LoadedKey,
  algorithm: DecryptAlgorithm,
  ciphertext: Buffer,
  label: Buffer | undefined,
): Promise<Buffer> {
  if (algorithm === 'RSA/ECB/PKCS1Padding') {
    if (label?.length) throw badRequest('rsa_oaep_label: only for the OAEP algorithms', 'rsa_oaep_label');
    return rsaPkcs1v15Decrypt(k, ciphertext);
  }
  return oaepDecrypt(k, ciphertext, { hash: OAEP[algorithm], label: label?.length ? label : undefined });
}
