import { constants, createPublicKey, publicEncrypt, randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import { CompactEncrypt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ciphertextAad, encodeCiphertext, encodeHeader, parseCiphertext } from '../ciphertext.ts';
import { joseSignParams } from '../crypto.ts';
import type { Caller, Kms } from '../kms.ts';
import { expectKind } from '../test-expect.ts';
import { opensslVerify } from '../test-openssl.ts';
import { backends, dbOf, twoTenants } from '../testing.ts';
import { UNWRAP_FAILED } from './import-wrapped.ts';
import { generateKeyPairDetached } from '../keypair.ts';

describe.each(backends())('wrapped import (bring your own key) on %s', (backend) => {
  let kms: Kms, alice: Caller, bob: Caller, close: () => Promise<void>;
  let transportId: string;
  /** The transport key's public half, as the customer gets it from the gateway. */
  let transportPub: KeyObject;

  beforeAll(async () => {
    ({ kms, alice, bob, close } = await twoTenants(backend));
    const t = await kms.createKey(alice, { name: 'transport', spec: { kind: 'RSA', size: 3072 }, ops: ['unwrapKey'] });
    transportId = t.id;
    transportPub = createPublicKey({ key: (await kms.getPublicKey(alice, t.id)).jwk as never, format: 'jwk' });
  });
  afterAll(() => close?.());

  const wrap = (material: Uint8Array, alg = 'RSA-OAEP-256', pub = transportPub, enc = 'A256GCM') =>
    new CompactEncrypt(material).setProtectedHeader({ alg, enc }).encrypt(pub);
  const der = (k: KeyObject, type: 'pkcs1' | 'pkcs8' | 'spki') => k.export({ format: 'der', type: type as 'pkcs1' }) as Buffer;
  const keyCount = async () => (await kms.listKeys(alice, { limit: 100 })).keys.length;

  it('imports an AES key (RAW, JWK; RSA-OAEP-256, RSA-OAEP): the key in use is the customer material, both ways', async () => {
    for (const [format, alg] of [
      ['RAW', 'RSA-OAEP-256'],
      ['RAW', 'RSA-OAEP'],
      ['JWK', 'RSA-OAEP-256'],
    ] as const) {
      const aes = randomBytes(32);
      const plain = format === 'RAW' ? aes : Buffer.from(JSON.stringify({ kty: 'oct', k: aes.toString('base64url') }));
      const k = await kms.importWrapped(alice, { name: `aes-${format}`, wrappingKeyId: transportId, format, jwe: await wrap(plain, alg) });
      expect(k).toMatchObject({ kind: 'oct', size: 256, origin: 'imported', state: 'active', extractable: false });
      // the gateway encrypts; WebCrypto opens it with the customer's original bytes
      const ct = parseCiphertext((await kms.encrypt(alice, k.id, Buffer.from('from the gateway'), Buffer.from('ctx'))).ciphertext);
      const wk = await webcrypto.subtle.importKey('raw', aes, 'AES-GCM', false, ['encrypt', 'decrypt']);
      const opened = await webcrypto.subtle.decrypt(
        { name: 'AES-GCM', iv: ct.parts.iv, additionalData: ciphertextAad(ct.header, Buffer.from('ctx')) },
        wk,
        Buffer.concat([ct.parts.ciphertext, ct.parts.tag]),
      );
      expect(Buffer.from(opened).toString()).toBe('from the gateway');
      // the customer encrypts with WebCrypto in the gateway's blob layout; the gateway opens it
      const header = encodeHeader(k.id, 1);
      const iv = randomBytes(12);
      const sealed = Buffer.from(
        await webcrypto.subtle.encrypt(
          { name: 'AES-GCM', iv, additionalData: ciphertextAad(header, Buffer.from('c2')) },
          wk,
          Buffer.from('hi'),
        ),
      );
      const blob = encodeCiphertext(header, { iv, ciphertext: sealed.subarray(0, -16), tag: sealed.subarray(-16) });
      expect((await kms.decrypt(alice, blob, Buffer.from('c2'))).plaintext.toString()).toBe('hi');
    }
  });

  it('imports RSA (PKCS1, PKCS8, JWK) and EC (PKCS8, JWK) pairs: OpenSSL verifies their signatures with the original public key', async () => {
    const rsa = generateKeyPairDetached('rsa', { modulusLength: 2048 });
    const ec = generateKeyPairDetached('ec', { namedCurve: 'P-384' });
    const msg = Buffer.from('signed by an imported key');
    for (const [pair, format, alg, plain] of [
      [rsa, 'PKCS1', 'RS256', der(rsa.privateKey, 'pkcs1')],
      [rsa, 'PKCS8', 'PS256', der(rsa.privateKey, 'pkcs8')],
      [rsa, 'JWK', 'RS256', Buffer.from(JSON.stringify(rsa.privateKey.export({ format: 'jwk' })))],
      [ec, 'PKCS8', 'ES384', der(ec.privateKey, 'pkcs8')],
      [ec, 'JWK', 'ES384', Buffer.from(JSON.stringify(ec.privateKey.export({ format: 'jwk' })))],
    ] as const) {
      const k = await kms.importWrapped(alice, { name: `${alg}-${format}`, wrappingKeyId: transportId, format, jwe: await wrap(plain) });
      expect(k.kind).toBe(pair === rsa ? 'RSA' : 'EC');
      expect(pair === rsa ? k.size : k.curve).toBe(pair === rsa ? 2048 : 'P-384');
      const spec = { kind: k.kind, size: k.size ?? undefined, curve: k.curve ?? undefined };
      const sig = (await kms.sign(alice, k.id, joseSignParams(alg, spec), msg)).signature;
      if (alg === 'ES384') {
        // WebCrypto takes JOSE's r || s as it is
        const wk = await webcrypto.subtle.importKey('spki', der(pair.publicKey, 'spki'), { name: 'ECDSA', namedCurve: 'P-384' }, false, [
          'verify',
        ]);
        expect(await webcrypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-384' }, wk, sig, msg)).toBe(true);
        continue;
      }
      const v = opensslVerify(
        pair.publicKey.export({ format: 'pem', type: 'spki' }) as string,
        msg,
        sig,
        'sha256',
        alg === 'PS256' ? ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32'] : [],
      );
      expect(v.ok, v.out).toBe(true);
    }
    // the customer encrypts to the imported RSA key with its own public key; the gateway decrypts
    const k = await kms.importWrapped(alice, {
      name: 'rsa-dec',
      wrappingKeyId: transportId,
      format: 'PKCS8',
      jwe: await wrap(der(rsa.privateKey, 'pkcs8')),
      ops: ['decrypt'],
    });
    const ct = publicEncrypt(
      { key: rsa.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
      Buffer.from('to the gateway'),
    );
    expect((await kms.rsaDecrypt(alice, k.id, ct, { hash: 'SHA-256' })).plaintext.toString()).toBe('to the gateway');
  });

  it('audits the import with the transport key, format and algorithm', async () => {
    const k = await kms.importWrapped(alice, {
      name: 'audited',
      wrappingKeyId: transportId,
      format: 'RAW',
      jwe: await wrap(randomBytes(16), 'RSA-OAEP'),
    });
    const row = await dbOf(kms)
      .selectFrom('audit_events')
      .select(['action', 'outcome', 'details'])
      .where('key_id', '=', k.id)
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({ action: 'key.import', outcome: 'allowed' });
    expect(row.details).toMatchObject({ wrappingKeyId: transportId, format: 'RAW', algorithm: 'RSA-OAEP', kind: 'oct', size: 128 });
  });

  it('refuses RSA1_5 before any decryption, and unknown algorithms, with a clear message', async () => {
    const b = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const rsa15 = `${b({ alg: 'RSA1_5', enc: 'A256GCM' })}.${randomBytes(384).toString('base64url')}.${randomBytes(12).toString('base64url')}.AAAA.${randomBytes(16).toString('base64url')}`;
    await expectKind(
      kms.importWrapped(alice, { name: 'x', wrappingKeyId: transportId, format: 'RAW', jwe: rsa15 }),
      'invalid_argument',
      /RSA1_5.*not offered/,
    );
    const dir = rsa15.replace(/^[^.]+/, b({ alg: 'dir', enc: 'A256GCM' }));
    await expectKind(
      kms.importWrapped(alice, { name: 'x', wrappingKeyId: transportId, format: 'RAW', jwe: dir }),
      'invalid_argument',
      /RSA-OAEP-256 or RSA-OAEP; got 'dir'/,
    );
    const zip = rsa15.replace(/^[^.]+/, b({ alg: 'RSA-OAEP', enc: 'A256GCM', zip: 'DEF' }));
    await expectKind(
      kms.importWrapped(alice, { name: 'x', wrappingKeyId: transportId, format: 'RAW', jwe: zip }),
      'invalid_argument',
      /zip/,
    );
    await expectKind(
      kms.importWrapped(alice, { name: 'x', wrappingKeyId: transportId, format: 'RAW', jwe: 'a.b.c' }),
      'invalid_argument',
      /not a JWE compact/,
    );
  });

  it('gives one identical answer for every unwrap failure: tampered parts, another RSA key, another algorithm', async () => {
    const jwe = await wrap(randomBytes(32));
    const other = await kms.createKey(alice, { name: 'other-transport', spec: { kind: 'RSA', size: 2048 }, ops: ['unwrapKey'] });
    const flip = (part: number) =>
      jwe
        .split('.')
        .map((p, i) => {
          if (i !== part) return p;
          const bytes = Buffer.from(p, 'base64url');
          bytes[bytes.length >> 1]! ^= 1;
          return bytes.toString('base64url');
        })
        .join('.');
    const swapped = jwe.replace(/^[^.]+/, Buffer.from(JSON.stringify({ alg: 'RSA-OAEP', enc: 'A256GCM' })).toString('base64url'));
    const attempts: Array<[string, string]> = [
      ['encrypted key', flip(1)],
      ['iv', flip(2)],
      ['ciphertext', flip(3)],
      ['tag', flip(4)],
      ['header alg', swapped],
    ];
    const before = await keyCount();
    const answers = new Set<string>();
    for (const [, bad] of attempts) {
      const e = await kms.importWrapped(alice, { name: 'x', wrappingKeyId: transportId, format: 'RAW', jwe: bad }).catch((err) => err);
      answers.add(`${e.kind}|${e.reason}|${e.message}`);
    }
    const e = await kms.importWrapped(alice, { name: 'x', wrappingKeyId: other.id, format: 'RAW', jwe }).catch((err) => err);
    answers.add(`${e.kind}|${e.reason}|${e.message}`);
    expect([...answers]).toEqual([`invalid_argument|unwrap|${UNWRAP_FAILED}`]);
    expect(await keyCount()).toBe(before); // nothing half-written
  });

  it('refuses a transport key that cannot unwrap: no unwrapKey, not RSA, public only, not active, another tenant', async () => {
    const jwe = await wrap(randomBytes(32));
    const imp = (wrappingKeyId: string, c = alice) => kms.importWrapped(c, { name: 'x', wrappingKeyId, format: 'RAW', jwe });
    const signer = await kms.createKey(alice, { name: 's', spec: { kind: 'RSA', size: 2048 }, ops: ['sign', 'verify'] });
    await expectKind(imp(signer.id), 'unsupported', /wrapping key: .*not allowed to unwrapKey/);
    const aes = await kms.createKey(alice, { name: 'a', spec: { kind: 'oct', size: 256 }, ops: ['wrapKey', 'unwrapKey'] });
    await expectKind(imp(aes.id), 'invalid_argument', /must be an RSA key; it is oct/);
    const pub = await kms.importKey(alice, {
      name: 'p',
      ops: ['wrapKey'],
      material: { format: 'jwk', jwk: transportPub.export({ format: 'jwk' }) as Record<string, unknown> },
    });
    await expectKind(imp(pub.id), 'unsupported', /not allowed to unwrapKey/);
    const off = await kms.createKey(alice, { name: 'o', spec: { kind: 'RSA', size: 2048 }, ops: ['unwrapKey'] });
    await kms.deactivate(alice, off.id);
    await expectKind(imp(off.id), 'failed_precondition', /wrapping key: the key is deactivated/);
    await expectKind(imp(transportId, bob), 'not_found', /wrapping key not found/);
    await expectKind(imp('not-a-uuid'), 'not_found');
  });

  it('refuses material that is not what the request declares (type, size, curve, format)', async () => {
    const rsa = generateKeyPairDetached('rsa', { modulusLength: 2048 });
    const ec = generateKeyPairDetached('ec', { namedCurve: 'P-256' });
    const imp = async (format: 'RAW' | 'JWK' | 'PKCS1' | 'PKCS8', plain: Buffer, expect?: object) =>
      kms.importWrapped(alice, { name: 'x', wrappingKeyId: transportId, format, jwe: await wrap(plain), expect });
    await expectKind(imp('RAW', randomBytes(32), { kind: 'RSA' }), 'invalid_argument', /oct key, not RSA/);
    await expectKind(imp('PKCS8', der(rsa.privateKey, 'pkcs8'), { kind: 'RSA', size: 3072 }), 'invalid_argument', /2048-bit key, not 3072/);
    await expectKind(imp('PKCS8', der(ec.privateKey, 'pkcs8'), { kind: 'EC', curve: 'P-384' }), 'invalid_argument', /on P-256, not P-384/);
    await expectKind(imp('RAW', der(rsa.privateKey, 'pkcs8')), 'invalid_argument', /symmetric key is 16 or 32/);
    await expectKind(imp('PKCS1', der(ec.privateKey, 'pkcs8')), 'invalid_argument', /not a PKCS#1 RSA private key/);
    await expectKind(imp('PKCS8', randomBytes(32)), 'invalid_argument', /not a valid PKCS#8/);
    await expectKind(imp('JWK', Buffer.from('not json')), 'invalid_argument', /not a JWK/);
    const pubJwk = Buffer.from(JSON.stringify(rsa.publicKey.export({ format: 'jwk' })));
    await expectKind(imp('JWK', pubJwk), 'invalid_argument', /public key/);
    await expectKind(
      kms.importWrapped(alice, { name: 'x', wrappingKeyId: transportId, format: 'PEM' as never, jwe: await wrap(randomBytes(32)) }),
      'invalid_argument',
      /RAW, JWK, PKCS1 or PKCS8/,
    );
  });

  it('needs the import right and the unwrap right on the transport key', async () => {
    const jwe = await wrap(randomBytes(32));
    const as = (deny: string): Caller => ({ ...alice, principal: 'limited', authorize: (action) => action !== deny });
    await expectKind(
      kms.importWrapped(as('key.import'), { name: 'x', wrappingKeyId: transportId, format: 'RAW', jwe }),
      'permission_denied',
    );
    await expectKind(
      kms.importWrapped(as('key.unwrap'), { name: 'x', wrappingKeyId: transportId, format: 'RAW', jwe }),
      'permission_denied',
      /not allowed to unwrap with key/,
    );
    expect((await kms.importWrapped(as('key.create'), { name: 'ok', wrappingKeyId: transportId, format: 'RAW', jwe })).kind).toBe('oct');
  });
});
