import { createHash, randomBytes, webcrypto } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadKey, signWith, verifyWith, joseSignParams, type LoadedKey, type SignParams } from './crypto.ts';
import { KmsError } from './errors.ts';
import { HASH_BYTES, NODE_HASH, type HashName } from './keyspec.ts';
import { generateMaterial, materialKeyObject } from './material.ts';
import { loadedKey, pubPem } from './test-crypto.ts';
import { fromHexdump, openssl } from './test-openssl.ts';

const digestOf = (hash: HashName, msg: Uint8Array) => createHash(NODE_HASH[hash]).update(msg).digest();

/** OpenSSL verifies a message signature (dgst) or a digest signature (pkeyutl), with the padding asked. */
function opensslVerify(k: LoadedKey, p: SignParams, input: Uint8Array, sig: Uint8Array): boolean {
  const pss =
    p.scheme === 'RSA-PSS' ? ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', `rsa_pss_saltlen:${p.saltLength ?? HASH_BYTES[p.hash]}`] : [];
  const files = { 'pub.pem': pubPem(k), 'in.bin': input, 'sig.bin': sig };
  if (!p.prehashed)
    return openssl(files, () => ['dgst', `-${NODE_HASH[p.hash]}`, '-verify', 'pub.pem', ...pss, '-signature', 'sig.bin', 'in.bin']).ok;
  const opts = ['-pkeyopt', `digest:${NODE_HASH[p.hash]}`, ...pss.map((x) => (x === '-sigopt' ? '-pkeyopt' : x))];
  return openssl(files, () => ['pkeyutl', '-verify', '-pubin', '-inkey', 'pub.pem', '-in', 'in.bin', '-sigfile', 'sig.bin', ...opts]).ok;
}

/** OpenSSL signs a digest, so core's verify is checked against signatures it did not make. */
function opensslSignDigest(k: LoadedKey, p: SignParams, digest: Uint8Array): Buffer {
  const pem = k.key.export({ format: 'pem', type: 'pkcs8' }) as string;
  const pss =
    p.scheme === 'RSA-PSS' ? ['-pkeyopt', 'rsa_padding_mode:pss', '-pkeyopt', `rsa_pss_saltlen:${p.saltLength ?? HASH_BYTES[p.hash]}`] : [];
  const dir = { 'key.pem': pem, 'in.bin': digest };
  const out = openssl(dir, () => [
    'pkeyutl',
    '-sign',
    '-inkey',
    'key.pem',
    '-in',
    'in.bin',
    '-pkeyopt',
    `digest:${NODE_HASH[p.hash]}`,
    ...pss,
    '-hexdump',
  ]);
  expect(out.ok, out.out).toBe(true);
  return fromHexdump(out.out);
}

describe('signatures, checked by OpenSSL', () => {
  const msg = Buffer.from('The quick brown fox jumps over the lazy dog');
  const rsaCases: [SignParams['scheme'], HashName][] = [
    ['RSASSA-PKCS1-v1_5', 'SHA-256'],
    ['RSASSA-PKCS1-v1_5', 'SHA-384'],
    ['RSASSA-PKCS1-v1_5', 'SHA-512'],
    ['RSASSA-PKCS1-v1_5', 'SHA-1'],
    ['RSA-PSS', 'SHA-256'],
    ['RSA-PSS', 'SHA-384'],
    ['RSA-PSS', 'SHA-512'],
  ];

  it.each(rsaCases)('RSA-2048 %s %s on a message and on a digest', async (scheme, hash) => {
    const k = await loadedKey({ kind: 'RSA', size: 2048 });
    for (const prehashed of [false, true]) {
      const p: SignParams = { scheme, hash, prehashed };
      const input = prehashed ? digestOf(hash, msg) : msg;
      const sig = await signWith(k, p, input);
      expect(sig.length).toBe(256);
      expect(opensslVerify(k, p, input, sig), `${scheme} ${hash} prehashed=${prehashed}`).toBe(true);
      expect(await verifyWith(k, p, input, sig)).toBe(true);
      const bad = Buffer.from(sig);
      bad[10]! ^= 0x40;
      expect(await verifyWith(k, p, input, bad)).toBe(false);
      expect(opensslVerify(k, p, input, bad)).toBe(false);
    }
  });

  it('RSA-PSS honours an explicit salt length, and verify needs the same one', async () => {
    const k = await loadedKey({ kind: 'RSA', size: 3072 });
    for (const saltLength of [0, 20, 64]) {
      const p: SignParams = { scheme: 'RSA-PSS', hash: 'SHA-256', saltLength, prehashed: true };
      const d = digestOf('SHA-256', msg);
      const sig = await signWith(k, p, d);
      expect(opensslVerify(k, p, d, sig), `salt ${saltLength}`).toBe(true);
      expect(await verifyWith(k, p, d, sig)).toBe(true);
      expect(await verifyWith(k, { ...p, saltLength: saltLength + 1 }, d, sig)).toBe(false);
      const m = { ...p, prehashed: false };
      expect(opensslVerify(k, m, msg, await signWith(k, m, msg))).toBe(true);
    }
    await expect(signWith(k, { scheme: 'RSA-PSS', hash: 'SHA-256', saltLength: 1000 }, msg)).rejects.toThrow(/salt length/);
  });

  it('core verifies digest signatures that OpenSSL made (PKCS#1 v1.5 and PSS)', async () => {
    const k = await loadedKey({ kind: 'RSA', size: 2048 });
    for (const scheme of ['RSASSA-PKCS1-v1_5', 'RSA-PSS'] as const) {
      const p: SignParams = { scheme, hash: 'SHA-256', prehashed: true };
      const d = digestOf('SHA-256', msg);
      const sig = opensslSignDigest(k, p, d);
      expect(sig.length).toBe(256);
      expect(await verifyWith(k, p, d, sig)).toBe(true);
    }
  });

  it.each([
    ['P-256', 'SHA-256'],
    ['P-384', 'SHA-384'],
    ['P-521', 'SHA-512'],
  ] as const)('ECDSA %s %s: DER checked by OpenSSL, raw r||s checked by WebCrypto, on message and digest', async (curve, hash) => {
    const k = await loadedKey({ kind: 'EC', curve });
    const bytes = { 'P-256': 32, 'P-384': 48, 'P-521': 66 }[curve];
    const spki = k.publicKey!.export({ format: 'der', type: 'spki' });
    const wc = await webcrypto.subtle.importKey('spki', spki, { name: 'ECDSA', namedCurve: curve }, false, ['verify']);
    for (const prehashed of [false, true]) {
      const input = prehashed ? digestOf(hash, msg) : msg;
      const der = await signWith(k, { scheme: 'ECDSA', hash, prehashed, ecdsaFormat: 'der' }, input);
      expect(der[0]).toBe(0x30);
      expect(opensslVerify(k, { scheme: 'ECDSA', hash, prehashed }, input, der)).toBe(true);
      const raw = await signWith(k, { scheme: 'ECDSA', hash, prehashed, ecdsaFormat: 'p1363' }, input);
      expect(raw.length).toBe(2 * bytes);
      // WebCrypto ECDSA takes the message and the P1363 encoding, an implementation independent of both paths.
      expect(await webcrypto.subtle.verify({ name: 'ECDSA', hash }, wc, raw, msg)).toBe(true);
      for (const fmt of ['der', 'p1363'] as const) {
        const s = fmt === 'der' ? der : raw;
        expect(await verifyWith(k, { scheme: 'ECDSA', hash, prehashed, ecdsaFormat: fmt }, input, s)).toBe(true);
        const bad = Buffer.from(s);
        bad[bad.length - 3]! ^= 1;
        expect(await verifyWith(k, { scheme: 'ECDSA', hash, prehashed, ecdsaFormat: fmt }, input, bad)).toBe(false);
      }
    }
  });

  it('ECDSA over a digest: any curve with any hash, awkward digests, a fresh nonce each time; OpenSSL and WebCrypto agree', async () => {
    const n256 = Buffer.from('ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551', 'hex');
    for (const curve of ['P-256', 'P-384', 'P-521'] as const) {
      const k = await loadedKey({ kind: 'EC', curve });
      const spki = k.publicKey!.export({ format: 'der', type: 'spki' });
      for (const hash of ['SHA-1', 'SHA-256', 'SHA-384', 'SHA-512'] as const) {
        const wc = await webcrypto.subtle.importKey('spki', spki, { name: 'ECDSA', namedCurve: curve }, false, ['verify']);
        // A real message's digest, which WebCrypto checks from the message itself (its own truncation rule).
        const m = randomBytes(50);
        const raw = await signWith(k, { scheme: 'ECDSA', hash, prehashed: true, ecdsaFormat: 'p1363' }, digestOf(hash, m));
        expect(await webcrypto.subtle.verify({ name: 'ECDSA', hash }, wc, raw, m), `${curve} ${hash}`).toBe(true);
        // Digests no hash would give: zero, all ones, the group order itself (z ≡ 0 mod n on P-256),
        // and the order plus one.
        const len = HASH_BYTES[hash];
        const odd = [Buffer.alloc(len), Buffer.alloc(len, 0xff), randomBytes(len)];
        if (curve === 'P-256' && hash === 'SHA-256') {
          const plus1 = Buffer.from(n256);
          plus1[31]! += 1;
          odd.push(n256, plus1);
        }
        for (const d of odd) {
          const der = await signWith(k, { scheme: 'ECDSA', hash, prehashed: true, ecdsaFormat: 'der' }, d);
          expect(opensslVerify(k, { scheme: 'ECDSA', hash, prehashed: true }, d, der), `${curve} ${hash} ${d.toString('hex')}`).toBe(true);
          expect(await verifyWith(k, { scheme: 'ECDSA', hash, prehashed: true, ecdsaFormat: 'der' }, d, der)).toBe(true);
          const raw = await signWith(k, { scheme: 'ECDSA', hash, prehashed: true, ecdsaFormat: 'p1363' }, d);
          expect(raw.length).toBe(2 * { 'P-256': 32, 'P-384': 48, 'P-521': 66 }[curve]);
          expect(await verifyWith(k, { scheme: 'ECDSA', hash, prehashed: true, ecdsaFormat: 'p1363' }, d, raw)).toBe(true);
        }
      }
      // The nonce is hedged with fresh randomness: the same digest never gives the same signature twice.
      const d = digestOf('SHA-256', msg);
      const a = await signWith(k, { scheme: 'ECDSA', hash: 'SHA-256', prehashed: true, ecdsaFormat: 'p1363' }, d);
      const b = await signWith(k, { scheme: 'ECDSA', hash: 'SHA-256', prehashed: true, ecdsaFormat: 'p1363' }, d);
      expect(a.equals(b)).toBe(false);
      expect(a.subarray(0, a.length / 2).equals(b.subarray(0, b.length / 2))).toBe(false);
    }
  });

  it('ECDSA over a digest keeps no raw private scalar beside the KeyObject, and refuses a digest of the wrong length', async () => {
    for (const curve of ['P-256', 'P-384', 'P-521'] as const) {
      const k = await loadedKey({ kind: 'EC', curve });
      // The only secret a loaded key holds is OpenSSL's KeyObject: the public point is all that is copied out.
      expect(Object.keys(k.ec!)).toEqual(['point']);
      const d = Buffer.from(k.key.export({ format: 'jwk' }).d!, 'base64url');
      expect(Buffer.from(JSON.stringify(k.ec)).includes(d.toString('hex'))).toBe(false);
      for (const [hash, got] of [
        ['SHA-256', 20],
        ['SHA-256', 48],
        ['SHA-512', 32],
        ['SHA-384', 0],
      ] as const) {
        const e = await signWith(k, { scheme: 'ECDSA', hash, prehashed: true, ecdsaFormat: 'p1363' }, randomBytes(got)).catch(
          (x: unknown) => x,
        );
        expect(e).toBeInstanceOf(KmsError);
        expect(e).toMatchObject({
          kind: 'invalid_argument',
          message: `a ${hash} digest is ${HASH_BYTES[hash]} bytes; got ${got}`,
        });
        expect(
          await verifyWith(k, { scheme: 'ECDSA', hash, prehashed: true, ecdsaFormat: 'p1363' }, randomBytes(got), Buffer.alloc(8)).catch(
            (x: unknown) => x,
          ),
        ).toMatchObject({ kind: 'invalid_argument' });
      }
    }
  });

  it('JOSE algorithm names bind the curve and give raw r||s', async () => {
    const p256k = await loadedKey({ kind: 'EC', curve: 'P-256' });
    expect(joseSignParams('ES256', p256k.spec)).toEqual({ scheme: 'ECDSA', hash: 'SHA-256', ecdsaFormat: 'p1363' });
    expect(() => joseSignParams('ES384', p256k.spec)).toThrow(/P-384/);
    expect(() => joseSignParams('XX999', p256k.spec)).toThrow(KmsError);
  });

  it('refuses a digest of the wrong length and a scheme that does not fit the key', async () => {
    const rsa = await loadedKey({ kind: 'RSA', size: 2048 });
    await expect(signWith(rsa, { scheme: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', prehashed: true }, randomBytes(20))).rejects.toThrow(
      /32 bytes/,
    );
    await expect(signWith(rsa, { scheme: 'ECDSA', hash: 'SHA-256' }, msg)).rejects.toMatchObject({
      kind: 'unsupported',
    });
    expect(await verifyWith(rsa, { scheme: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, msg, Buffer.from('short'))).toBe(false);
    for (const hash of ['SHA-3', 'constructor'])
      await expect(signWith(rsa, { scheme: 'RSASSA-PKCS1-v1_5', hash: hash as never }, msg)).rejects.toMatchObject({
        kind: 'invalid_argument',
        message: `unknown hash '${hash}'`,
      });
  });

  it('HMAC-SHA-256/384/512 match OpenSSL and verify in constant time', async () => {
    for (const size of [256, 384, 512] as const) {
      const m = await generateMaterial({ kind: 'HMAC', size });
      const k = loadKey(m.spec, materialKeyObject(m.spec, m.secret));
      const hash = `SHA-${size}` as HashName;
      const mac = await signWith(k, { scheme: 'HMAC', hash }, msg);
      const r = openssl({ 'in.bin': msg }, () => [
        'dgst',
        `-sha${size}`,
        '-mac',
        'HMAC',
        '-macopt',
        `hexkey:${m.secret.toString('hex')}`,
        'in.bin',
      ]);
      expect(r.out.trim().split('= ')[1]).toBe(mac.toString('hex'));
      expect(await verifyWith(k, { scheme: 'HMAC', hash }, msg, mac)).toBe(true);
      expect(await verifyWith(k, { scheme: 'HMAC', hash }, msg, mac.subarray(1))).toBe(false);
      await expect(signWith(k, { scheme: 'HMAC', hash: size === 256 ? 'SHA-512' : 'SHA-256' }, msg)).rejects.toMatchObject({
        kind: 'unsupported',
      });
    }
  });
});
