import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KmsError } from './errors.ts';
import { importMaterial, type ImportInput } from './material.ts';
import { openssl } from './test-openssl.ts';
import { generateKeyPairDetached } from './keypair.ts';

const refuse = (input: ImportInput, msg: RegExp) => {
  let err: unknown;
  try {
    importMaterial(input);
  } catch (e) {
    err = e;
  }
  expect(err, `expected ${msg} to be refused`).toBeInstanceOf(KmsError);
  expect((err as KmsError).kind).toBe('invalid_argument');
  expect((err as KmsError).message).toMatch(msg);
};

describe('importing raw symmetric keys (checks of the Cloud KMS import guide)', () => {
  it('accepts 16 and 32 raw bytes', () => {
    expect(importMaterial({ format: 'raw', bytes: randomBytes(16) }).spec).toEqual({ kind: 'oct', size: 128 });
    expect(importMaterial({ format: 'raw', bytes: randomBytes(32) }).spec).toEqual({ kind: 'oct', size: 256 });
  });
  it('says base64 text must be decoded first (the guide example)', () => {
    refuse(
      { format: 'raw', bytes: Buffer.from('THzArjassB+giKeNeT1Zr74OgV24t+Ep+37Ec6ojB3Y=') },
      /looks like base64 text \(44 characters\); decode it first/,
    );
    refuse({ format: 'raw', bytes: Buffer.from('THzArjassB+giKeNeT1Zr74OgV24t+Ep+37Ec6ojB3Y=\n') }, /base64/);
  });
  it('says hex text (plain or an xxd dump) must be decoded first', () => {
    refuse({ format: 'raw', bytes: Buffer.from(randomBytes(16).toString('hex')) }, /looks like hex text \(32 characters\)/);
    const dump =
      '00000000: 4c7c c0ae 36ac b01f a088 a78d 793d 59af  L|..6.......y=Y.\n00000010: be0e 815d b8b7 e129 fb7e c473 aa23 0776  ...]...).~.s.#.v\n';
    refuse({ format: 'raw', bytes: Buffer.from(dump) }, /hex text/);
  });
  it('refuses other lengths, PEM and other text', () => {
    refuse({ format: 'raw', bytes: randomBytes(24) }, /16 or 32 raw bytes; got 24/);
    refuse({ format: 'raw', bytes: Buffer.alloc(0) }, /got 0/);
    refuse({ format: 'raw', bytes: Buffer.from('-----BEGIN PRIVATE KEY-----\nMII=\n-----END PRIVATE KEY-----\n') }, /PEM/);
    refuse({ format: 'raw', bytes: Buffer.from('this is my secret key, honest!!!') }, /printable text/);
  });
  it('HMAC keys are exactly as long as the hash output', () => {
    expect(importMaterial({ format: 'raw', kind: 'HMAC', bytes: randomBytes(48) }).spec).toEqual({
      kind: 'HMAC',
      size: 384,
    });
    refuse({ format: 'raw', kind: 'HMAC', bytes: randomBytes(40) }, /as long as its hash output.*got 40/);
  });
});

describe('importing PKCS#8', () => {
  const rsa = generateKeyPairDetached('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairDetached('ec', { namedCurve: 'P-384' });

  it('accepts DER and PEM, RSA and EC, and keeps the public key', () => {
    const der = rsa.privateKey.export({ format: 'der', type: 'pkcs8' });
    const m = importMaterial({ format: 'pkcs8', data: der });
    expect(m.spec).toEqual({ kind: 'RSA', size: 2048 });
    expect(m.spki!.equals(rsa.publicKey.export({ format: 'der', type: 'spki' }))).toBe(true);
    const pem = ec.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
    expect(importMaterial({ format: 'pkcs8', data: pem }).spec).toEqual({ kind: 'EC', curve: 'P-384' });
  });
  it('accepts what `openssl pkcs8 -topk8 -nocrypt -outform DER` produces from a PKCS#1 key', () => {
    const pkcs1 = rsa.privateKey.export({ format: 'pem', type: 'pkcs1' }) as string;
    const r = openssl({ 'k.pem': pkcs1 }, (d) => [
      'pkcs8',
      '-topk8',
      '-nocrypt',
      '-inform',
      'PEM',
      '-outform',
      'DER',
      '-in',
      'k.pem',
      '-out',
      `${d}/k.der`,
    ]);
    expect(r.ok, r.out).toBe(true);
  });
  it('explains PKCS#1 / SEC1 / encrypted / public / base64 inputs', () => {
    refuse(
      { format: 'pkcs8', data: rsa.privateKey.export({ format: 'pem', type: 'pkcs1' }) as string },
      /PKCS#1 RSA key; convert it to PKCS#8/,
    );
    refuse({ format: 'pkcs8', data: ec.privateKey.export({ format: 'pem', type: 'sec1' }) as string }, /SEC1 EC key/);
    refuse({ format: 'pkcs8', data: rsa.privateKey.export({ format: 'der', type: 'pkcs1' }) }, /PKCS#1 RSA DER key, not PKCS#8/);
    refuse(
      {
        format: 'pkcs8',
        data: rsa.privateKey.export({
          format: 'pem',
          type: 'pkcs8',
          cipher: 'aes-256-cbc',
          passphrase: 'pw',
        }) as string,
      },
      /encrypted; decrypt it first/,
    );
    refuse({ format: 'pkcs8', data: rsa.publicKey.export({ format: 'pem', type: 'spki' }) as string }, /public key, not a private key/);
    refuse(
      { format: 'pkcs8', data: (rsa.privateKey.export({ format: 'der', type: 'pkcs8' }) as Buffer).toString('base64') },
      /looks like base64 text.*send PEM/,
    );
    refuse({ format: 'pkcs8', data: randomBytes(100) }, /not a valid PKCS#8/);
  });
  it('refuses weak or unsupported keys', () => {
    const small = generateKeyPairDetached('rsa', { modulusLength: 1024 });
    refuse({ format: 'pkcs8', data: small.privateKey.export({ format: 'der', type: 'pkcs8' }) }, /2048, 3072, 4096 bits; this one is 1024/);
    const e3 = generateKeyPairDetached('rsa', { modulusLength: 2048, publicExponent: 3 });
    refuse(
      { format: 'pkcs8', data: e3.privateKey.export({ format: 'der', type: 'pkcs8' }) },
      /exponent must be 65537 or more; this one is 3/,
    );
    const ed = generateKeyPairDetached('ed25519');
    refuse({ format: 'pkcs8', data: ed.privateKey.export({ format: 'der', type: 'pkcs8' }) }, /unsupported key type 'ed25519'/);
    const k1 = generateKeyPairDetached('ec', { namedCurve: 'secp256k1' });
    refuse({ format: 'pkcs8', data: k1.privateKey.export({ format: 'der', type: 'pkcs8' }) }, /unsupported EC curve/);
  });
});

describe('importing JWK (RFC 7518)', () => {
  it('accepts oct, RSA and EC private JWKs', () => {
    expect(importMaterial({ format: 'jwk', jwk: { kty: 'oct', k: randomBytes(32).toString('base64url') } }).spec).toEqual({
      kind: 'oct',
      size: 256,
    });
    expect(importMaterial({ format: 'jwk', jwk: { kty: 'oct', k: randomBytes(64).toString('base64url'), alg: 'HS512' } }).spec).toEqual({
      kind: 'HMAC',
      size: 512,
    });
    const rsa = generateKeyPairDetached('rsa', { modulusLength: 3072 }).privateKey.export({ format: 'jwk' });
    expect(importMaterial({ format: 'jwk', jwk: rsa as Record<string, unknown> }).spec).toEqual({
      kind: 'RSA',
      size: 3072,
    });
    const ec = generateKeyPairDetached('ec', { namedCurve: 'P-521' }).privateKey.export({ format: 'jwk' });
    expect(importMaterial({ format: 'jwk', jwk: ec as Record<string, unknown> }).spec).toEqual({
      kind: 'EC',
      curve: 'P-521',
    });
  });
  it('imports public-only RSA and EC JWKs as public keys (no secret, SPKI kept)', () => {
    const rsa = generateKeyPairDetached('rsa', { modulusLength: 2048 });
    const pub = rsa.publicKey.export({ format: 'jwk' }) as Record<string, unknown>;
    const m = importMaterial({ format: 'jwk', jwk: pub });
    expect(m).toMatchObject({ spec: { kind: 'RSA', size: 2048 }, publicOnly: true });
    expect(m.secret.length).toBe(0);
    expect(m.spki!.equals(rsa.publicKey.export({ format: 'der', type: 'spki' }))).toBe(true);
    const ec = generateKeyPairDetached('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'jwk' }) as Record<string, unknown>;
    expect(importMaterial({ format: 'jwk', jwk: ec })).toMatchObject({
      spec: { kind: 'EC', curve: 'P-384' },
      publicOnly: true,
    });
  });
  it('refuses malformed members with the member name', () => {
    refuse({ format: 'jwk', jwk: { kty: 'oct', k: 'a+b/c==' } }, /'k' is not base64url/);
    refuse({ format: 'jwk', jwk: { kty: 'oct' } }, /missing 'k'/);
    refuse({ format: 'jwk', jwk: { kty: 'oct', k: randomBytes(20).toString('base64url') } }, /16, 24 or 32 bytes; JWK 'k' has 20/);
    refuse(
      { format: 'jwk', jwk: { kty: 'oct', k: randomBytes(16).toString('base64url'), alg: 'A256GCM' } },
      /does not match a 128-bit AES key/,
    );
    refuse({ format: 'jwk', jwk: { kty: 'OKP', crv: 'Ed25519' } }, /unsupported JWK kty 'OKP'/);
    const ec = generateKeyPairDetached('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }) as Record<string, string>;
    refuse({ format: 'jwk', jwk: { ...ec, d: undefined, x: ec.y } }, /public members do not describe a valid public key/);
    refuse({ format: 'jwk', jwk: { ...ec, crv: 'P-192' } }, /'crv' must be one of/);
    refuse({ format: 'jwk', jwk: { ...ec, x: ec.x!.slice(4) } }, /'x' must be 32 bytes for P-256; got 29/);
    const other = generateKeyPairDetached('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }) as Record<string, string>;
    refuse({ format: 'jwk', jwk: { ...ec, d: other.d } }, /EC private and public members do not form one key/);
    const rsa = generateKeyPairDetached('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }) as Record<string, string>;
    refuse({ format: 'jwk', jwk: { ...rsa, d: undefined } }, /has 'p' but no private exponent 'd'/);
    refuse({ format: 'jwk', jwk: { kty: 'RSA', n: rsa.n, e: 'Aw' } }, /public exponent must be 65537 or more/);
    refuse({ format: 'jwk', jwk: { ...rsa, qi: undefined } }, /missing 'qi'/);
    const rsa2 = generateKeyPairDetached('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }) as Record<string, string>;
    refuse(
      { format: 'jwk', jwk: { ...rsa, d: rsa2.d, p: rsa2.p, q: rsa2.q, dp: rsa2.dp, dq: rsa2.dq, qi: rsa2.qi } },
      /do not form one key|not describe a valid/,
    );
  });
});
