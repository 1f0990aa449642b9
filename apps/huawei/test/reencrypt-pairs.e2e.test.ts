import { createPrivateKey, createPublicKey } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPairDetached, type Kms } from '@polykms/core';
import { backends, dbOf } from '@polykms/core/testing';
import { openssl, opensslVerify, opensslOaep, opensslDerive } from '../../../packages/core/src/test-openssl.ts';
import { sdkKmsClient } from './client.ts';
import { P1, P2, expectKmsError, openWorldWithUsers, type World } from './setup.ts';

const pem = (der: Buffer, type: 'spki' | 'pkcs8') =>
  String(
    type === 'spki'
      ? createPublicKey({ key: der, format: 'der', type }).export({ format: 'pem', type })
      : createPrivateKey({ key: der, format: 'der', type }).export({ format: 'pem', type }),
  );

/**
 * re-encrypt, create-rsa/ec-datakey-pair and derive-shared-secret (huawei-kms.md §2.2, §2.3), the
 * happy paths through the official SDK core's AK/SK signing, each result checked with OpenSSL.
 */
describe.each(backends())('Huawei re-encrypt, data key pairs and ECDH on %s', (backend) => {
  let kms: Kms;
  let w: World;
  let close: () => Promise<void>;
  let sdk: ReturnType<typeof sdkKmsClient>;
  let t: Record<string, string>;

  beforeAll(async () => {
    let ak: { access: string; secret: string };
    ({ kms, w, t, ak, close } = await openWorldWithUsers(backend));
    sdk = sdkKmsClient(`https://localhost:${w.server.port}`, w.ca, { ak: ak.access, sk: ak.secret, projectId: P1 });
  });
  afterAll(() => close?.());

  const ok = async (verb: string, body: unknown) => {
    const r = await w.kms(t.admin!, verb, body);
    expect(r.status, `${verb}: ${r.text}`).toBe(200);
    return r.json;
  };
  const key = async (alias: string, key_spec?: string, key_usage?: string) =>
    (await ok('create-key', { key_alias: alias, ...(key_spec ? { key_spec } : {}), ...(key_usage ? { key_usage } : {}) })).key_info
      .key_id as string;

  it('re-encrypt moves encrypt-data ciphertext, data keys and RSA-OAEP ciphertext; both halves audited', async () => {
    const a = await key('re-a');
    const b = await key('re-b');
    const e = await sdk.post('encrypt-data', { key_id: a, plain_text: 'moved ✓', additional_authenticated_data: 'from-a' });
    const r = await sdk.post('re-encrypt', {
      cipher_text: e.cipher_text,
      destination_key_id: b,
      source_additional_authenticated_data: 'from-a',
      destination_additional_authenticated_data: 'to-b',
    });
    const { httpStatusCode, ...wire } = r;
    expect(httpStatusCode).toBe(200);
    expect(wire).toEqual({
      key_id: b,
      source_key_id: a,
      source_encryption_algorithm: 'SYMMETRIC_DEFAULT',
      destination_encryption_algorithm: 'SYMMETRIC_DEFAULT',
      cipher_text: expect.stringMatching(/^[A-Za-z0-9+/]+={0,2}$/),
    });
    expect(Buffer.from(r.cipher_text, 'base64').length).toBe(124 + 16);
    const back = await sdk.post('decrypt-data', { cipher_text: r.cipher_text, additional_authenticated_data: 'to-b' });
    expect(back).toMatchObject({ key_id: b, plain_text: 'moved ✓' });
    expectKmsError(
      await w.kms(t.admin!, 'decrypt-data', { cipher_text: r.cipher_text, additional_authenticated_data: 'from-a' }),
      400,
      'KMS.2201',
    );
    await kms.sealAudit();
    const half = (role: string) =>
      dbOf(kms)
        .selectFrom('audit_events')
        .select(['action', 'key_id', 'outcome'])
        .where('dialect', '=', 'huawei')
        .where('details', '@>', JSON.stringify({ reencrypt: role }) as never)
        .execute();
    expect(await half('source')).toEqual([{ action: 'key.decrypt', key_id: a, outcome: 'allowed' }]);
    expect(await half('destination')).toEqual([{ action: 'key.encrypt', key_id: b, outcome: 'allowed' }]);

    // A data key (hex, with its length) stays a data key: decrypt-datakey opens it under the destination.
    const dk = await sdk.post('create-datakey', { key_id: a, datakey_length: '256' });
    const moved = await sdk.post('re-encrypt', { cipher_text: dk.cipher_text, destination_key_id: b, datakey_cipher_length: '32' });
    expect(moved.cipher_text).toMatch(/^[0-9A-F]+$/);
    const opened = await sdk.post('decrypt-datakey', { key_id: b, cipher_text: moved.cipher_text, datakey_cipher_length: '32' });
    expect(opened.data_key).toBe(dk.plain_text);
    // So does one the caller brought (encrypt-datakey).
    const own = Buffer.alloc(24, 9);
    const { createHash } = await import('node:crypto');
    const sealed = await sdk.post('encrypt-datakey', {
      key_id: a,
      plain_text: own.toString('hex') + createHash('sha256').update(own).digest('hex'),
      datakey_plain_length: '24',
    });
    const moved2 = await sdk.post('re-encrypt', { cipher_text: sealed.cipher_text, destination_key_id: b, datakey_cipher_length: '24' });
    expect((await sdk.post('decrypt-datakey', { key_id: b, cipher_text: moved2.cipher_text, datakey_cipher_length: '24' })).data_key).toBe(
      own.toString('hex').toUpperCase(),
    );

    // RSA-OAEP made outside with the key's public key (OpenSSL's view of it), re-encrypted under AES.
    const rsa = await key('re-rsa', 'RSA_2048', 'ENCRYPT_DECRYPT');
    const pub = (await ok('get-publickey', { key_id: rsa })).public_key as string;
    const o = opensslOaep('encrypt', pub, 'from outside', 'sha256');
    expect(o.ok, o.out).toBe(true);
    const fromRsa = await sdk.post('re-encrypt', {
      cipher_text: o.bytes.toString('base64'),
      source_key_id: rsa,
      source_encryption_algorithm: 'RSAES_OAEP_SHA_256',
      destination_key_id: a,
    });
    expect(fromRsa).toMatchObject({ key_id: a, source_key_id: rsa, source_encryption_algorithm: 'RSAES_OAEP_SHA_256' });
    expect((await sdk.post('decrypt-data', { cipher_text: fromRsa.cipher_text })).plain_text).toBe('from outside');
    const toRsa = await sdk.post('re-encrypt', {
      cipher_text: fromRsa.cipher_text,
      destination_key_id: rsa,
      destination_encryption_algorithm: 'RSAES_OAEP_SHA_1',
    });
    expect(Buffer.from(toRsa.cipher_text, 'base64').length).toBe(256);
    const dec = await sdk.post('decrypt-data', { cipher_text: toRsa.cipher_text, key_id: rsa, encryption_algorithm: 'RSAES_OAEP_SHA_1' });
    expect(dec.plain_text).toBe('from outside');
  });

  it('re-encrypt refusals: project, role, key state, key usage, enums, sizes, shapes', async () => {
    const a = await key('rf-a');
    const b = await key('rf-b');
    const ct = (await ok('encrypt-data', { key_id: a, plain_text: 'x' })).cipher_text as string;
    const re = (body: Record<string, unknown>, who = 'admin', project = P1) => w.kms(t[who]!, 're-encrypt', body, project);
    expectKmsError(await re({ cipher_text: ct, destination_key_id: b }, 'reader'), 403, 'KMS.0306');
    expectKmsError(await re({ cipher_text: ct, destination_key_id: b }, 'other', P2), 404, 'KMS.0207');
    expectKmsError(await re({ cipher_text: ct, destination_key_id: b }, 'admin', P2), 403, 'KMS.0321');
    const signer = await key('rf-sign', 'RSA_2048', 'SIGN_VERIFY');
    const ec = await key('rf-ec', 'EC_P256');
    const mac = await key('rf-mac', 'HMAC_256');
    expectKmsError(await re({ cipher_text: ct, destination_key_id: signer }), 400, 'KMS.0335');
    expectKmsError(await re({ cipher_text: ct, destination_key_id: ec }), 400, 'KMS.1114');
    expectKmsError(await re({ cipher_text: ct, destination_key_id: mac }), 400, 'KMS.0341');
    expectKmsError(
      await re({ cipher_text: ct, destination_key_id: b, destination_encryption_algorithm: 'RSAES_OAEP_SHA_256' }),
      400,
      'KMS.2105',
    );
    expectKmsError(await re({ cipher_text: ct, destination_key_id: b, destination_encryption_algorithm: 'AES_GCM' }), 400, 'KMS.0308');
    expectKmsError(await re({ cipher_text: ct, destination_key_id: b, source_encryption_algorithm: 'SM2_ENCRYPT' }), 400, 'KMS.2106');
    expectKmsError(await re({ cipher_text: ct }), 400, 'KMS.0204');
    expectKmsError(await re({ cipher_text: ct, destination_key_id: 'nope' }), 400, 'KMS.0205');
    expectKmsError(await re({ cipher_text: ct, destination_key_id: '00000000-0000-4000-8000-000000000000' }), 404, 'KMS.0207');
    expectKmsError(await re({ cipher_text: ct, destination_key_id: b, source_key_id: b }), 400, 'KMS.2201');
    expectKmsError(await re({ cipher_text: ct, destination_key_id: b, source_additional_authenticated_data: 'other' }), 400, 'KMS.2201');
    expectKmsError(await re({ cipher_text: `${ct.slice(0, -8)}AAAAAAA=`, destination_key_id: b }), 400, 'KMS.2201');
    expectKmsError(await re({ cipher_text: 'not base64!', destination_key_id: b }), 400, 'KMS.2201');
    expectKmsError(
      await re({ cipher_text: ct, destination_key_id: b, source_encryption_algorithm: 'RSAES_OAEP_SHA_256' }),
      400,
      'KMS.0204',
    );
    expectKmsError(
      await re({ cipher_text: ct, destination_key_id: b, source_additional_authenticated_data: 'x'.repeat(129) }),
      400,
      'KMS.0308',
    );
    const dk = (await ok('create-datakey-without-plaintext', { key_id: a })).cipher_text as string;
    expectKmsError(await re({ cipher_text: dk, destination_key_id: b, datakey_cipher_length: '16' }), 400, 'KMS.2204');
    expectKmsError(await re({ cipher_text: dk, destination_key_id: b, datakey_cipher_length: '4096' }), 400, 'KMS.2204');
    // A data key is not encrypt-data ciphertext, whichever way it is presented.
    expectKmsError(await re({ cipher_text: Buffer.from(dk, 'hex').toString('base64'), destination_key_id: b }), 400, 'KMS.2201');
    // Disabled destination, source pending deletion: Huawei uses only enabled keys.
    await ok('disable-key', { key_id: b });
    expectKmsError(await re({ cipher_text: ct, destination_key_id: b }), 400, 'KMS.0209');
    await ok('enable-key', { key_id: b });
    await ok('disable-key', { key_id: a });
    await ok('schedule-key-deletion', { key_id: a, pending_days: '7' });
    expectKmsError(await re({ cipher_text: ct, destination_key_id: b }), 400, 'KMS.0210');
  });

  it('data key pairs: the sealed private key opens through decrypt-data, pairs with the public key, and signs for OpenSSL', async () => {
    const k = await key('pairs');
    const rsa = await sdk.post('create-rsa-datakey-pair', { key_id: k, key_spec: 'RSA_2048', additional_authenticated_data: 'pair-1' });
    const { httpStatusCode, ...wire } = rsa;
    expect(httpStatusCode).toBe(200);
    expect(Object.keys(wire)).toEqual(['key_id', 'key_spec', 'public_key', 'private_key_cipher_text', 'private_key_plain_text']);
    expect(wire).toMatchObject({ key_id: k, key_spec: 'RSA_2048' });
    const opened = await sdk.post('decrypt-data', { cipher_text: rsa.private_key_cipher_text, additional_authenticated_data: 'pair-1' });
    expect(opened.plain_text_base64).toBe(rsa.private_key_plain_text);
    const priv = pem(Buffer.from(opened.plain_text_base64, 'base64'), 'pkcs8');
    const pub = pem(Buffer.from(rsa.public_key, 'base64'), 'spki');
    expect(openssl({ 'k.pem': priv }, () => ['pkey', '-in', 'k.pem', '-pubout']).out.trim()).toBe(pub.trim());
    expect(openssl({ 'k.pem': priv }, () => ['pkey', '-in', 'k.pem', '-text', '-noout']).out).toMatch(/2048 bit/);
    const signVerify = (privPem: string, pubPem: string) => {
      const s = openssl({ 'k.pem': privPem, 'm.txt': 'signed outside' }, () => ['dgst', '-sha256', '-sign', 'k.pem', '-hex', 'm.txt']);
      expect(s.ok, s.out).toBe(true);
      const sig = Buffer.from(s.out.trim().split('= ').pop()!, 'hex');
      const v = opensslVerify(pubPem, 'signed outside', sig, 'sha256');
      expect(v.out).toMatch(/Verified OK/);
    };
    signVerify(priv, pub);

    for (const [spec, curve] of [
      ['ECC_NIST_P256', /prime256v1|P-256/],
      ['ECC_NIST_P521', /secp521r1|P-521/],
    ] as const) {
      const ec = await sdk.post('create-ec-datakey-pair', { key_id: k, key_spec: spec, with_plain_text: false });
      expect(Object.keys(ec).filter((x) => x !== 'httpStatusCode')).toEqual([
        'key_id',
        'key_spec',
        'public_key',
        'private_key_cipher_text',
      ]);
      const ecPriv = pem(
        Buffer.from((await sdk.post('decrypt-data', { cipher_text: ec.private_key_cipher_text })).plain_text_base64, 'base64'),
        'pkcs8',
      );
      const ecPub = pem(Buffer.from(ec.public_key, 'base64'), 'spki');
      expect(openssl({ 'p.pem': ecPub }, () => ['pkey', '-pubin', '-in', 'p.pem', '-text', '-noout']).out).toMatch(curve);
      expect(openssl({ 'k.pem': ecPriv }, () => ['pkey', '-in', 'k.pem', '-pubout']).out.trim()).toBe(ecPub.trim());
      signVerify(ecPriv, ecPub);
    }
  });

  it('data key pair refusals', async () => {
    const k = await key('pair-refusals');
    const pair = (verb: string, body: Record<string, unknown>, who = 'admin', project = P1) => w.kms(t[who]!, verb, body, project);
    expectKmsError(await pair('create-rsa-datakey-pair', { key_id: k, key_spec: 'RSA_2048' }, 'reader'), 403, 'KMS.0306');
    expectKmsError(await pair('create-ec-datakey-pair', { key_id: k, key_spec: 'ECC_NIST_P256' }, 'other', P2), 404, 'KMS.0207');
    expectKmsError(await pair('create-rsa-datakey-pair', { key_id: k, key_spec: 'RSA_1024' }), 400, 'KMS.0308');
    expectKmsError(await pair('create-rsa-datakey-pair', { key_id: k, key_spec: 'ECC_NIST_P256' }), 400, 'KMS.0308');
    expectKmsError(await pair('create-ec-datakey-pair', { key_id: k, key_spec: 'ECC_SECG_P256K1' }), 400, 'KMS.0308');
    expectKmsError(await pair('create-ec-datakey-pair', { key_id: k, key_spec: 'SM2' }), 400, 'KMS.0308');
    expectKmsError(await pair('create-ec-datakey-pair', { key_id: k }), 400, 'KMS.0204');
    expectKmsError(await pair('create-ec-datakey-pair', { key_id: k, key_spec: 'ECC_NIST_P256', with_plain_text: 'yes' }), 400, 'KMS.0308');
    expectKmsError(
      await pair('create-ec-datakey-pair', { key_id: k, key_spec: 'ECC_NIST_P256', additional_authenticated_data: 'x'.repeat(129) }),
      400,
      'KMS.0308',
    );
    const signer = await key('pair-signer', 'RSA_2048', 'SIGN_VERIFY');
    const rsaEnc = await key('pair-rsa-enc', 'RSA_2048', 'ENCRYPT_DECRYPT');
    const ec = await key('pair-ec', 'EC_P256');
    expectKmsError(await pair('create-rsa-datakey-pair', { key_id: signer, key_spec: 'RSA_2048' }), 400, 'KMS.0335');
    expectKmsError(await pair('create-rsa-datakey-pair', { key_id: rsaEnc, key_spec: 'RSA_2048' }), 400, 'KMS.2106');
    expectKmsError(await pair('create-ec-datakey-pair', { key_id: ec, key_spec: 'ECC_NIST_P256' }), 400, 'KMS.1114');
    await ok('disable-key', { key_id: k });
    expectKmsError(await pair('create-ec-datakey-pair', { key_id: k, key_spec: 'ECC_NIST_P256' }), 400, 'KMS.0209');
    await ok('schedule-key-deletion', { key_id: k, pending_days: '7' });
    expectKmsError(await pair('create-ec-datakey-pair', { key_id: k, key_spec: 'ECC_NIST_P256' }), 400, 'KMS.0210');
  });

  it('derive-shared-secret: the secret OpenSSL derives from the peer private key and get-publickey', async () => {
    const k = await key('agree', 'EC_P256', 'KEY_AGREEMENT');
    expect((await ok('describe-key', { key_id: k })).key_info).toMatchObject({ key_spec: 'EC_P256', key_usage: 'KEY_AGREEMENT' });
    const peer = generateKeyPairDetached('ec', { namedCurve: 'P-256' });
    const r = await sdk.post('derive-shared-secret', {
      key_id: k,
      key_agreement_algorithm: 'ECDH',
      public_key: peer.publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
    });
    const { httpStatusCode, ...wire } = r;
    expect(httpStatusCode).toBe(200);
    expect(Object.keys(wire)).toEqual(['key_id', 'key_agreement_algorithm', 'shared_secret']);
    expect(wire).toMatchObject({ key_id: k, key_agreement_algorithm: 'ECDH' });
    const kmsPub = (await ok('get-publickey', { key_id: k })).public_key as string;
    const z = opensslDerive(peer.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, kmsPub);
    expect(z.ok, z.out).toBe(true);
    expect(Buffer.from(r.shared_secret, 'base64').toString('hex')).toBe(z.secret.toString('hex'));
    // The key agreement key does not sign.
    expectKmsError(
      await w.kms(t.admin!, 'sign', { key_id: k, message: Buffer.alloc(32).toString('base64'), signing_algorithm: 'ECDSA_SHA_256' }),
      400,
      'KMS.0332',
    );
  });

  it('derive-shared-secret refusals', async () => {
    const k = await key('agree-refusals', 'EC_P384', 'KEY_AGREEMENT');
    const p384 = generateKeyPairDetached('ec', { namedCurve: 'P-384' })
      .publicKey.export({ format: 'der', type: 'spki' })
      .toString('base64');
    const p256 = generateKeyPairDetached('ec', { namedCurve: 'P-256' })
      .publicKey.export({ format: 'der', type: 'spki' })
      .toString('base64');
    const rsaPub = generateKeyPairDetached('rsa', { modulusLength: 2048 })
      .publicKey.export({ format: 'der', type: 'spki' })
      .toString('base64');
    const d = (body: Record<string, unknown>, who = 'admin', project = P1) => w.kms(t[who]!, 'derive-shared-secret', body, project);
    const good = { key_id: k, key_agreement_algorithm: 'ECDH', public_key: p384 };
    expectKmsError(await d(good, 'reader'), 403, 'KMS.0306');
    expectKmsError(await d(good, 'other', P2), 404, 'KMS.0207');
    expectKmsError(await d({ ...good, key_agreement_algorithm: 'DH' }), 400, 'KMS.0308');
    expectKmsError(await d({ ...good, public_key: p256 }), 400, 'KMS.0308');
    expectKmsError(await d({ ...good, public_key: rsaPub }), 400, 'KMS.0308');
    expectKmsError(await d({ ...good, public_key: Buffer.from('not a key').toString('base64') }), 400, 'KMS.0308');
    expectKmsError(await d({ ...good, public_key: 'not base64' }), 400, 'KMS.0308');
    expectKmsError(await d({ key_id: k, key_agreement_algorithm: 'ECDH' }), 400, 'KMS.0204');
    expectKmsError(
      await d({ ...good, recipient: { attestation_document: 'x', key_encryption_algorithm: 'RSAES_OAEP_SHA_256' } }),
      400,
      'KMS.0308',
    );
    expectKmsError(await d({ ...good, key_id: await key('agree-signer', 'EC_P384') }), 400, 'KMS.0335');
    expectKmsError(await d({ ...good, key_id: await key('agree-aes') }), 400, 'KMS.0331');
    expectKmsError(await d({ ...good, key_id: await key('agree-rsa', 'RSA_2048') }), 400, 'KMS.0325');
    expectKmsError(
      await w.kms(t.admin!, 'create-key', { key_alias: 'agree-rsa2', key_spec: 'RSA_2048', key_usage: 'KEY_AGREEMENT' }),
      400,
      'KMS.0325',
    );
    expectKmsError(await w.kms(t.admin!, 'create-key', { key_alias: 'agree-aes2', key_usage: 'KEY_AGREEMENT' }), 400, 'KMS.0331');
    await ok('disable-key', { key_id: k });
    expectKmsError(await d(good), 400, 'KMS.0209');
    await ok('schedule-key-deletion', { key_id: k, pending_days: '7' });
    expectKmsError(await d(good), 400, 'KMS.0210');
  });
});
