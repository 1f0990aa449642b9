/**
 * Huawei KMS signatures, public keys and MACs (huawei-kms.md §2.3, §2.4;
 * https://support.huaweicloud.com/api-dew/Sign.html): Sign, ValidateSignature (verify), ShowPublicKey
 * (get-publickey), GenerateMac, VerifyMac.
 */
import { HASH_BYTES, KmsError, type HashName, type KeyRecord, type Kms, type SignParams } from '@polykms/core';
import { body, caller, keyIdOf, type Route } from '../app.ts';
import { HuaweiError } from '../errors.ts';
import * as S from '../schemas.ts';

type Alg = (typeof S.SIGNING_ALGORITHMS)[number];

const ALGS: Partial<Record<Alg, { scheme: SignParams['scheme']; hash: HashName; curves?: readonly string[] }>> = {
  RSASSA_PSS_SHA_256: { scheme: 'RSA-PSS', hash: 'SHA-256' },
  RSASSA_PSS_SHA_384: { scheme: 'RSA-PSS', hash: 'SHA-384' },
  RSASSA_PSS_SHA_512: { scheme: 'RSA-PSS', hash: 'SHA-512' },
  RSASSA_PKCS1_V1_5_SHA_256: { scheme: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
  RSASSA_PKCS1_V1_5_SHA_384: { scheme: 'RSASSA-PKCS1-v1_5', hash: 'SHA-384' },
  RSASSA_PKCS1_V1_5_SHA_512: { scheme: 'RSASSA-PKCS1-v1_5', hash: 'SHA-512' },
  ECDSA_SHA_256: { scheme: 'ECDSA', hash: 'SHA-256', curves: ['P-256', 'secp256k1'] },
  ECDSA_SHA_384: { scheme: 'ECDSA', hash: 'SHA-384', curves: ['P-384'] },
  ECDSA_SHA_512: { scheme: 'ECDSA', hash: 'SHA-512', curves: ['P-521'] },
  // Pure Ed25519 (RFC 8032), which hashes with SHA-512 itself; Ed25519ph (ED25519_PH_SHA_512) is not offered.
  ED25519_SHA_512: { scheme: 'EdDSA', hash: 'SHA-512' },
};

const KIND_OF_SCHEME: Record<SignParams['scheme'], KeyRecord['kind']> = {
  'RSA-PSS': 'RSA',
  'RSASSA-PKCS1-v1_5': 'RSA',
  ECDSA: 'EC',
  EdDSA: 'OKP',
  HMAC: 'HMAC',
};

/**
 * Core's parameters for a Huawei algorithm on this key. ECDSA signatures are DER (X9.62), the AWS
 * convention Huawei's KMS follows; RSA-PSS uses a salt as long as the hash. An ECDSA hash must match
 * the curve (ECDSA_SHA_256 on P-256 or SECP256K1 ...), as KMS.0332 says. Ed25519 signs the message as
 * given, whatever `message_type` says: it has no form over a digest.
 */
export function signParams(alg: Alg, messageType: 'DIGEST' | 'RAW' | undefined, message: Uint8Array) {
  const a = ALGS[alg];
  if (!a) throw new HuaweiError('0332', `${alg} is not supported here.`);
  // DIGEST is the default; a message that cannot be a digest for this hash, sent without an explicit
  // message_type, is signed as a message (Huawei's own example signs a 31-byte "digest" this way).
  const prehashed =
    a.scheme !== 'EdDSA' && (messageType === 'DIGEST' || (messageType === undefined && message.length === HASH_BYTES[a.hash]));
  return (k: KeyRecord): SignParams => {
    if (k.kind === 'HMAC') throw new KmsError('unsupported', 'an HMAC key makes MACs (generate-mac), not signatures', 'key_usage');
    const kindOk = k.kind === KIND_OF_SCHEME[a.scheme];
    if (kindOk && a.curves && !a.curves.includes(k.curve ?? ''))
      throw new KmsError('unsupported', `${alg} needs a ${a.curves.join(' or ')} key; this key is ${k.curve}`, 'algorithm');
    // A symmetric key is left to core, which refuses it for its usage (KMS.1115), not the algorithm.
    if (!kindOk && k.kind !== 'oct') throw new KmsError('unsupported', `${alg} cannot be used with an ${k.kind} key`, 'algorithm');
    return {
      scheme: a.scheme,
      hash: a.hash,
      prehashed,
      ecdsaFormat: 'der',
      ...(a.scheme === 'RSA-PSS' ? { saltLength: HASH_BYTES[a.hash] } : {}),
    };
  };
}

const MAC_HASH: Record<string, HashName | undefined> = {
  HMAC_SHA_256: 'SHA-256',
  HMAC_SHA_384: 'SHA-384',
  HMAC_SHA_512: 'SHA-512',
};
const macParams = (alg: string) => {
  const hash = MAC_HASH[alg];
  if (!hash) throw new HuaweiError('0332', `${alg} is not supported here.`);
  return (k: KeyRecord): SignParams => {
    if (k.kind !== 'HMAC') throw new KmsError('unsupported', 'only an HMAC key makes MACs', 'key_usage');
    if (k.size !== HASH_BYTES[hash] * 8)
      throw new KmsError('unsupported', `this key is HMAC_${k.size}: use HMAC_SHA_${k.size}`, 'algorithm');
    return { scheme: 'HMAC', hash };
  };
};

export function asymmetricRoutes(kms: Kms, route: Route) {
  route('post', '/sign', async (c) => {
    const req = body(c, S.Sign);
    const keyId = await keyIdOf(kms, c, req.key_id);
    const message = S.fromBase64(req.message, '0308', 'message');
    if (message.length > 4096) throw new HuaweiError('0308', 'message is at most 4096 bytes; sign a digest instead.');
    const r = await kms.sign(caller(c), keyId, signParams(req.signing_algorithm, req.message_type, message), message);
    return c.json({ key_id: r.keyId, signature: r.signature.toString('base64') });
  });

  route('post', '/verify', async (c) => {
    const req = body(c, S.Verify);
    const keyId = await keyIdOf(kms, c, req.key_id);
    const message = S.fromBase64(req.message, '0308', 'message');
    const signature = S.fromBase64(req.signature, '0308', 'signature');
    if (message.length > 4096) throw new HuaweiError('0308', 'message is at most 4096 bytes.');
    const r = await kms.verify(caller(c), keyId, signParams(req.signing_algorithm, req.message_type, message), message, signature);
    // A string, not a boolean (ValidateSignatureResponse).
    return c.json({ key_id: r.keyId, signature_valid: r.valid ? 'true' : 'false' });
  });

  route('post', '/get-publickey', async (c) => {
    const req = body(c, S.KeyRefOnly);
    const keyId = await keyIdOf(kms, c, req.key_id);
    const k = await kms.getKey(caller(c), keyId);
    if (k.state === 'destroyed') throw new HuaweiError('0207');
    if (k.kind === 'oct') throw new HuaweiError('0331', 'A symmetric key has no public key.');
    if (k.kind === 'HMAC') throw new HuaweiError('0341', 'An HMAC key has no public key.');
    const pub = await kms.getPublicKey(caller(c), keyId);
    // SPKI PEM with CRLF line ends, as Huawei's example shows.
    return c.json({ key_id: pub.keyId, public_key: pub.pem.replace(/\r?\n/g, '\r\n') });
  });

  route('post', '/generate-mac', async (c) => {
    const req = body(c, S.GenerateMac);
    const keyId = await keyIdOf(kms, c, req.key_id);
    const message = S.fromBase64(req.message, '0308', 'message');
    if (message.length < 1 || message.length > 4096) throw new HuaweiError('0308', 'message is 1 to 4096 bytes.');
    const r = await kms.sign(caller(c), keyId, macParams(req.mac_algorithm), message);
    return c.json({ key_id: r.keyId, mac_algorithm: req.mac_algorithm, mac: r.signature.toString('base64') });
  });

  route('post', '/verify-mac', async (c) => {
    const req = body(c, S.VerifyMac);
    const keyId = await keyIdOf(kms, c, req.key_id);
    const message = S.fromBase64(req.message, '0308', 'message');
    const mac = S.fromBase64(req.mac, '0308', 'mac');
    if (message.length < 1 || message.length > 4096) throw new HuaweiError('0308', 'message is 1 to 4096 bytes.');
    const r = await kms.verify(caller(c), keyId, macParams(req.mac_algorithm), message, mac);
    return c.json({ key_id: r.keyId, mac_algorithm: req.mac_algorithm, mac_valid: r.valid });
  });
}
