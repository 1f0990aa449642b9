import {
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  generateKeyPair,
  randomBytes,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { promisify } from 'node:util';
import { invalid, KmsError } from './errors.ts';
import { CURVE_BYTES, NODE_CURVE, SIZES, type Curve, type KeySpec } from './keyspec.ts';

const generateKeyPairAsync = promisify(generateKeyPair);

// Imports stay on the NIST curves every dialect renders, unless the key they go into names its curve.
const IMPORTABLE_CURVES: readonly Curve[] = ['P-256', 'P-384', 'P-521'];
const importableCurve = (nodeName: string | undefined, curves = IMPORTABLE_CURVES) => curves.find((c) => NODE_CURVE[c] === nodeName);

/**
 * Key material as stored (before the root-key envelope): raw bytes for oct and HMAC keys, PKCS#8 DER
 * for asymmetric keys, plus the SubjectPublicKeyInfo DER kept in clear.
 */
export interface Material {
  spec: KeySpec;
  secret: Buffer;
  spki?: Buffer | undefined;
  /** An imported public key (no private half): it can only verify, encrypt and wrap. */
  publicOnly?: boolean | undefined;
}

/** What a public-only key can do. */
export const PUBLIC_OPS = ['verify', 'encrypt', 'wrapKey'] as const;

function fromPublicKeyObject(pub: KeyObject): Material {
  const d = pub.asymmetricKeyDetails ?? {};
  const spki = pub.export({ format: 'der', type: 'spki' });
  if (pub.asymmetricKeyType === 'rsa') {
    const bits = d.modulusLength ?? 0;
    if (!SIZES.RSA.includes(bits)) throw invalid(`RSA keys must be ${SIZES.RSA.join(', ')} bits; this one is ${bits}`, 'import_length');
    if ((d.publicExponent ?? 0n) < 65537n)
      throw invalid(`the RSA public exponent must be 65537 or more; this one is ${d.publicExponent}`, 'import_key');
    return { spec: { kind: 'RSA', size: bits }, secret: Buffer.alloc(0), spki, publicOnly: true };
  }
  const curve = importableCurve(d.namedCurve);
  if (pub.asymmetricKeyType !== 'ec' || !curve)
    throw invalid(`unsupported public key type; expected RSA or EC on ${IMPORTABLE_CURVES.join(', ')}`, 'import_key');
  return { spec: { kind: 'EC', curve }, secret: Buffer.alloc(0), spki, publicOnly: true };
}

export async function generateMaterial(spec: KeySpec): Promise<Material> {
  switch (spec.kind) {
    case 'oct':
    case 'HMAC':
      return { spec, secret: randomBytes(spec.size! / 8) };
    case 'RSA': {
      const { privateKey, publicKey } = await generateKeyPairAsync('rsa', {
        modulusLength: spec.size!,
        publicExponent: 65537,
      });
      return asymmetric(spec, privateKey, publicKey);
    }
    case 'EC': {
      const { privateKey, publicKey } = await generateKeyPairAsync('ec', { namedCurve: NODE_CURVE[spec.curve as Curve] });
      return asymmetric(spec, privateKey, publicKey);
    }
    case 'OKP': {
      const { privateKey, publicKey } = await generateKeyPairAsync('ed25519');
      return asymmetric(spec, privateKey, publicKey);
    }
  }
}

const asymmetric = (spec: KeySpec, priv: KeyObject, pub: KeyObject): Material => ({
  spec,
  secret: priv.export({ format: 'der', type: 'pkcs8' }),
  spki: pub.export({ format: 'der', type: 'spki' }),
});

export type ImportInput =
  | { format: 'jwk'; jwk: Record<string, unknown>; hmac?: boolean }
  /** Raw symmetric bytes; `kind: 'HMAC'` wants the key as long as the hash output. */
  | { format: 'raw'; bytes: Uint8Array; kind?: 'oct' | 'HMAC' }
  | { format: 'pkcs8'; data: Uint8Array | string; curves?: readonly Curve[] | undefined };

/** Parses and checks key material the way a careful KMS does, saying exactly what is wrong. */
export function importMaterial(input: ImportInput): Material {
  switch (input.format) {
    case 'raw':
      return importRaw(Buffer.from(input.bytes), input.kind ?? 'oct');
    case 'pkcs8':
      return importPkcs8(input.data, input.curves);
    case 'jwk':
      return importJwk(input.jwk, input.hmac ?? false);
    default:
      throw invalid(`unknown import format '${(input as { format: string }).format}'; expected jwk, raw or pkcs8`, 'import_format');
  }
}

/** Text that a user meant to decode first ("file" says ASCII text, not data). */
function describeText(b: Buffer): string | undefined {
  if (b.length === 0) return undefined;
  const s = b.toString('latin1');
  if (s.startsWith('-----BEGIN')) return 'looks like PEM text; symmetric keys are imported as raw bytes';
  if (!/^[\x09\x0a\x0d\x20-\x7e]+$/.test(s)) return undefined;
  const t = s.trim();
  if (/^[0-9a-fA-F\s]+$/.test(t) || /^[0-9a-f]{8}: [0-9a-f]{4} /m.test(t))
    return `looks like hex text (${b.length} characters); decode it first (xxd -r -p)`;
  if (/^[A-Za-z0-9+/_\s-]+={0,2}$/.test(t)) return `looks like base64 text (${b.length} characters); decode it first (base64 -d)`;
  return 'is printable text, not raw key bytes';
}

function importRaw(bytes: Buffer, kind: 'oct' | 'HMAC'): Material {
  const text = describeText(bytes);
  if (text) throw invalid(`the key material ${text}`, 'import_encoding');
  if (kind === 'HMAC') {
    const bits = bytes.length * 8;
    if (!SIZES.HMAC.includes(bits))
      throw invalid(
        `an HMAC key must be as long as its hash output: 32 (SHA-256), 48 (SHA-384) or 64 (SHA-512) bytes; got ${bytes.length}`,
        'import_length',
      );
    return { spec: { kind: 'HMAC', size: bits }, secret: bytes };
  }
  if (bytes.length !== 16 && bytes.length !== 32)
    throw invalid(`a symmetric key is 16 or 32 raw bytes; got ${bytes.length}`, 'import_length');
  return { spec: { kind: 'oct', size: bytes.length * 8 }, secret: bytes };
}

const PEM_RE = /^-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)\r?\n?-----END \1-----\s*$/;

function importPkcs8(data: Uint8Array | string, curves?: readonly Curve[]): Material {
  let der: Buffer;
  const asText = typeof data === 'string' ? data : Buffer.from(data).toString('latin1');
  if (asText.trimStart().startsWith('-----BEGIN')) {
    const m = PEM_RE.exec(asText.trim());
    if (!m) throw invalid('the PEM text is malformed: expected one -----BEGIN PRIVATE KEY----- block', 'import_encoding');
    const label = m[1]!;
    if (label === 'RSA PRIVATE KEY' || label === 'EC PRIVATE KEY')
      throw invalid(
        `this is a ${label === 'RSA PRIVATE KEY' ? 'PKCS#1 RSA' : 'SEC1 EC'} key; convert it to PKCS#8 first: openssl pkcs8 -topk8 -nocrypt -in key.pem -out key.pk8.pem`,
        'import_format',
      );
    if (label === 'ENCRYPTED PRIVATE KEY')
      throw invalid('this PKCS#8 key is encrypted; decrypt it first: openssl pkcs8 -topk8 -nocrypt -in key.pem', 'import_format');
    if (label === 'PUBLIC KEY' || label === 'CERTIFICATE')
      throw invalid(`this is a ${label.toLowerCase()}, not a private key`, 'import_format');
    if (label !== 'PRIVATE KEY') throw invalid(`unexpected PEM block '${label}'; expected PRIVATE KEY (PKCS#8)`, 'import_format');
    der = Buffer.from(m[2]!.replace(/\s+/g, ''), 'base64');
  } else {
    der = typeof data === 'string' ? Buffer.from(data, 'latin1') : Buffer.from(data);
    const text = describeText(der);
    if (text) throw invalid(`the key ${text.replace('decode it first', 'decode it first or send PEM')}`, 'import_encoding');
  }
  let priv: KeyObject;
  try {
    priv = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } catch {
    for (const type of ['pkcs1', 'sec1'] as const) {
      try {
        createPrivateKey({ key: der, format: 'der', type });
        throw invalid(
          `this is a ${type === 'pkcs1' ? 'PKCS#1 RSA' : 'SEC1 EC'} DER key, not PKCS#8; convert it: openssl pkcs8 -topk8 -nocrypt -inform DER -outform DER -in key.der -out key.pk8`,
          'import_format',
        );
      } catch (e) {
        if (e instanceof KmsError) throw e;
      }
    }
    throw invalid('the key is not a valid PKCS#8 DER private key', 'import_format');
  }
  return fromPrivateKeyObject(priv, curves);
}

function fromPrivateKeyObject(priv: KeyObject, curves = IMPORTABLE_CURVES): Material {
  const pub = createPublicKey(priv);
  const d = priv.asymmetricKeyDetails ?? {};
  if (priv.asymmetricKeyType === 'rsa') {
    const bits = d.modulusLength ?? 0;
    if (!SIZES.RSA.includes(bits)) throw invalid(`RSA keys must be ${SIZES.RSA.join(', ')} bits; this one is ${bits}`, 'import_length');
    // FIPS 186-4 B.3.1: e >= 65537.
    if ((d.publicExponent ?? 0n) < 65537n)
      throw invalid(`the RSA public exponent must be 65537 or more; this one is ${d.publicExponent}`, 'import_key');
    return asymmetric({ kind: 'RSA', size: bits }, priv, pub);
  }
  if (priv.asymmetricKeyType === 'ec') {
    const curve = importableCurve(d.namedCurve, curves);
    if (!curve) throw invalid(`unsupported EC curve '${d.namedCurve}'; expected ${curves.join(', ')}`, 'import_key');
    return asymmetric({ kind: 'EC', curve }, priv, pub);
  }
  throw invalid(`unsupported key type '${priv.asymmetricKeyType}'; expected RSA or EC`, 'import_key');
}

const B64URL_RE = /^[A-Za-z0-9_-]*$/;

function b64urlMember(jwk: Record<string, unknown>, name: string, required = true): Buffer | undefined {
  const v = jwk[name];
  if (v === undefined) {
    if (required) throw invalid(`the JWK is missing '${name}'`, 'import_jwk');
    return undefined;
  }
  if (typeof v !== 'string' || v.length === 0) throw invalid(`JWK '${name}' must be a non-empty base64url string`, 'import_jwk');
  if (!B64URL_RE.test(v) || v.length % 4 === 1)
    throw invalid(`JWK '${name}' is not base64url (RFC 7515: '-' and '_', no padding)`, 'import_jwk');
  return Buffer.from(v, 'base64url');
}

function importJwk(jwk: Record<string, unknown>, hmac: boolean): Material {
  if (jwk === null || typeof jwk !== 'object' || Array.isArray(jwk)) throw invalid('the JWK must be a JSON object', 'import_jwk');
  const kty = jwk.kty;
  if (kty === 'oct') {
    const k = b64urlMember(jwk, 'k')!;
    const alg = typeof jwk.alg === 'string' ? jwk.alg : undefined;
    if (hmac || (alg && /^HS(256|384|512)$/.test(alg))) {
      const bits = k.length * 8;
      if (!SIZES.HMAC.includes(bits))
        throw invalid(`an HMAC key must be as long as its hash output (32, 48 or 64 bytes); got ${k.length}`, 'import_length');
      if (alg && alg !== `HS${bits}`) throw invalid(`JWK alg ${alg} does not match a ${k.length}-byte key (HS${bits})`, 'import_jwk');
      return { spec: { kind: 'HMAC', size: bits }, secret: k };
    }
    if (![16, 24, 32].includes(k.length)) throw invalid(`an AES key is 16, 24 or 32 bytes; JWK 'k' has ${k.length}`, 'import_length');
    if (alg && !new RegExp(`^A${k.length * 8}(GCM|KW|GCMKW)$`).test(alg))
      throw invalid(`JWK alg ${alg} does not match a ${k.length * 8}-bit AES key`, 'import_jwk');
    return { spec: { kind: 'oct', size: k.length * 8 }, secret: k };
  }
  if (kty === 'RSA') {
    for (const m of ['n', 'e']) b64urlMember(jwk, m);
    if (jwk.d === undefined) {
      for (const m of ['p', 'q', 'dp', 'dq', 'qi'])
        if (jwk[m] !== undefined) throw invalid(`the JWK has '${m}' but no private exponent 'd'`, 'import_jwk');
      return fromPublicKeyObject(publicFromJwk({ kty: 'RSA', n: jwk.n, e: jwk.e }));
    }
    // RFC 7518 §6.3.2: if 'p' is present, the other CRT members must be too; OpenSSL needs all of them.
    for (const m of ['d', 'p', 'q', 'dp', 'dq', 'qi']) b64urlMember(jwk, m);
    if (jwk.oth !== undefined) throw invalid('multi-prime RSA keys (JWK "oth") are not supported', 'import_jwk');
    const priv = jwkPrivate(jwk);
    const m = fromPrivateKeyObject(priv);
    assertPairConsistent(priv, publicFromJwk({ kty: 'RSA', n: jwk.n, e: jwk.e }), 'RSA');
    return m;
  }
  if (kty === 'EC') {
    const crv = jwk.crv;
    if (typeof crv !== 'string' || !IMPORTABLE_CURVES.includes(crv as Curve))
      throw invalid(`JWK 'crv' must be one of ${IMPORTABLE_CURVES.join(', ')}`, 'import_jwk');
    const size = CURVE_BYTES[crv as Curve];
    for (const mname of ['x', 'y', 'd']) {
      if (mname === 'd' && jwk.d === undefined) continue;
      const b = b64urlMember(jwk, mname)!;
      // RFC 7518 §6.2.1.2/§6.2.2.1: coordinates and d are full-length, leading zeros kept.
      if (b.length !== size) throw invalid(`JWK '${mname}' must be ${size} bytes for ${crv}; got ${b.length}`, 'import_jwk');
    }
    if (jwk.d === undefined) return fromPublicKeyObject(publicFromJwk({ kty: 'EC', crv, x: jwk.x, y: jwk.y }));
    const priv = jwkPrivate(jwk);
    // The public point must be the one d gives, or the key would sign with one key and publish another.
    assertPairConsistent(priv, publicFromJwk({ kty: 'EC', crv, x: jwk.x, y: jwk.y }), 'EC');
    return fromPrivateKeyObject(priv);
  }
  throw invalid(`unsupported JWK kty '${String(kty)}'; expected oct, RSA or EC`, 'import_jwk');
}

function jwkPrivate(jwk: Record<string, unknown>): KeyObject {
  try {
    return createPrivateKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' });
  } catch {
    throw invalid('the JWK does not describe a valid private key', 'import_jwk');
  }
}

function publicFromJwk(jwk: Record<string, unknown>): KeyObject {
  try {
    return createPublicKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' });
  } catch {
    throw invalid('the JWK public members do not describe a valid public key', 'import_jwk');
  }
}

/**
 * OpenSSL signs with the private members only (d, or the CRT values), so a JWK whose private and
 * public halves come from different keys imports silently; a probe signature checked against the
 * JWK's own public members catches it.
 */
function assertPairConsistent(priv: KeyObject, pub: KeyObject, what: string) {
  const probe = Buffer.from('polykms import check');
  let ok = false;
  try {
    ok = verify('sha256', probe, pub, sign('sha256', probe, priv));
  } catch {
    ok = false;
  }
  if (!ok) throw invalid(`the ${what} private and public members do not form one key`, 'import_jwk');
}

/** KeyObjects for stored material (cached by the key store). */
export function materialKeyObject(spec: KeySpec, secret: Buffer): KeyObject {
  if (spec.kind === 'oct' || spec.kind === 'HMAC') return createSecretKey(secret);
  return createPrivateKey({ key: secret, format: 'der', type: 'pkcs8' });
}
