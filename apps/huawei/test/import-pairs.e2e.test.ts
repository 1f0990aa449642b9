import { createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPairDetached, type Kms } from '@polykms/core';
import { backends } from '@polykms/core/testing';
import { opensslVerify, wrapKeyPairWithOpenssl, wrapKeyWithOpenssl } from '../../../packages/core/src/test-openssl.ts';
import { sdkKmsClient } from './client.ts';
import { P1, P2, expectKmsError, openWorldWithUsers, type World } from './setup.ts';

/** A customer's key pair for a Huawei key_spec, made outside the gateway. */
const customerPair = (keySpec: string) => {
  const { privateKey, publicKey } = keySpec.startsWith('RSA_')
    ? generateKeyPairDetached('rsa', { modulusLength: Number(keySpec.slice(4)) })
    : generateKeyPairDetached('ec', { namedCurve: { EC_P256: 'prime256v1', EC_P384: 'secp384r1', SECP256K1: 'secp256k1' }[keySpec]! });
  return { pkcs8: privateKey.export({ format: 'der', type: 'pkcs8' }), publicKey };
};
const pemOf = (k: KeyObject) => k.export({ format: 'pem', type: 'spki' }) as string;

/** OpenSSL checks the gateway's signature over `msg` with the customer's own public key (RSA-PSS: salt of 32 bytes). */
const verifiedByOpenssl = (pub: KeyObject, msg: Buffer, signatureB64: string, hash: string, pss = false) =>
  opensslVerify(
    pemOf(pub),
    msg,
    Buffer.from(signatureB64, 'base64'),
    hash,
    pss ? ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32'] : [],
  );

/**
 * Key pairs brought by the customer (huawei-kms.md §2.6): `encrypted_key_material` is a temporary AES
 * key under the wrapping key, `encrypted_privatekey` the PKCS#8 private key under the temporary key.
 */
describe.each(backends())('Huawei key pair import on %s', (backend) => {
  let kms: Kms, w: World, t: Record<string, string>, ak: { access: string; secret: string }, close: () => Promise<void>;
  let clock = new Date();
  beforeAll(async () => {
    ({ kms, w, t, ak, close } = await openWorldWithUsers(backend, { now: () => clock }));
  });
  afterAll(() => close?.());

  const ok = async (verb: string, body: unknown) => {
    const r = await w.kms(t.admin!, verb, body);
    expect(r.status, `${verb}: ${r.text}`).toBe(200);
    return r.json;
  };
  const external = async (alias: string, key_spec: string) =>
    (await ok('create-key', { key_alias: alias, key_spec, key_usage: 'SIGN_VERIFY', origin: 'external' })).key_info.key_id as string;
  /** Parameters, then the customer's wrapping with the OpenSSL CLI, as the import-key-material body. */
  const wrapped = async (keyId: string, pkcs8: Buffer, opts: Parameters<typeof wrapKeyPairWithOpenssl>[2] = {}) => {
    const p = await ok('get-parameters-for-import', {
      key_id: keyId,
      wrapping_algorithm: opts.hash === 'sha1' ? 'RSAES_OAEP_SHA_1' : 'RSAES_OAEP_SHA_256',
    });
    const x = wrapKeyPairWithOpenssl(Buffer.from(p.public_key, 'base64'), pkcs8, opts);
    return {
      key_id: keyId,
      import_token: p.import_token as string,
      encrypted_key_material: x.wrappedKey.toString('base64'),
      encrypted_privatekey: x.wrappedPrivateKey.toString('base64'),
    };
  };
  const signRaw = (keyId: string, msg: Buffer, alg: string) =>
    ok('sign', { key_id: keyId, message: msg.toString('base64'), signing_algorithm: alg, message_type: 'RAW' });

  it('runs a key pair import through the official Node SDK core: the gateway signs, OpenSSL verifies with the customer key', async () => {
    const sdk = sdkKmsClient(`https://localhost:${w.server.port}`, w.ca, { ak: ak.access, sk: ak.secret, projectId: P1 });
    const id = (await sdk.post('create-key', { key_alias: 'pair-sdk', key_spec: 'RSA_2048', key_usage: 'SIGN_VERIFY', origin: 'external' }))
      .key_info.key_id;
    expect((await sdk.post('describe-key', { key_id: id })).key_info).toMatchObject({ key_state: '5', key_spec: 'RSA_2048' });
    const p = await sdk.post('get-parameters-for-import', { key_id: id, wrapping_algorithm: 'RSAES_OAEP_SHA_256' });
    const mine = customerPair('RSA_2048');
    const x = wrapKeyPairWithOpenssl(Buffer.from(p.public_key, 'base64'), mine.pkcs8);
    const imported = await sdk.post('import-key-material', {
      key_id: id,
      import_token: p.import_token,
      encrypted_key_material: x.wrappedKey.toString('base64'),
      encrypted_privatekey: x.wrappedPrivateKey.toString('base64'),
    });
    expect(imported.httpStatusCode).toBe(200);
    expect((await sdk.post('describe-key', { key_id: id })).key_info.key_state).toBe('2');
    const msg = randomBytes(64);
    const sig = await sdk.post('sign', {
      key_id: id,
      message: msg.toString('base64'),
      signing_algorithm: 'RSASSA_PSS_SHA_256',
      message_type: 'RAW',
    });
    expect(verifiedByOpenssl(mine.publicKey, msg, sig.signature, 'sha256', true).out).toMatch(/Verified OK/);
    expect(verifiedByOpenssl(mine.publicKey, randomBytes(64), sig.signature, 'sha256', true).ok).toBe(false);
    const pub = (await sdk.post('get-publickey', { key_id: id })).public_key as string;
    expect(
      createPublicKey(pub)
        .export({ format: 'der', type: 'spki' })
        .equals(mine.publicKey.export({ format: 'der', type: 'spki' })),
    ).toBe(true);
  });

  it.each([
    ['RSA_3072', 'RSASSA_PKCS1_V1_5_SHA_256', { hash: 'sha1' as const, temporary: randomBytes(16) }],
    ['EC_P256', 'ECDSA_SHA_256', {}],
    ['EC_P384', 'ECDSA_SHA_384', { temporary: randomBytes(16) }],
    ['SECP256K1', 'ECDSA_SHA_256', {}],
  ])('imports a %s key pair over raw HTTP and signs with it (%s)', async (spec, alg, opts) => {
    const id = await external(`pair-${spec}`, spec);
    expectKmsError(await w.kms(t.admin!, 'get-publickey', { key_id: id }), 400, 'KMS.0308');
    const mine = customerPair(spec);
    expect(await ok('import-key-material', await wrapped(id, mine.pkcs8, opts))).toEqual({});
    const msg = randomBytes(80);
    const sig = await signRaw(id, msg, alg);
    expect(verifiedByOpenssl(mine.publicKey, msg, sig.signature, `sha${alg.slice(-3)}`).out).toMatch(/Verified OK/);
    expect(createPublicKey((await ok('get-publickey', { key_id: id })).public_key).export({ format: 'pem', type: 'spki' })).toBe(
      pemOf(mine.publicKey),
    );
  });

  it('refuses another spec or curve, garbage and public keys, broken wrapping, missing parts, spent tokens, states and projects', async () => {
    const rsa = await external('pair-refusals', 'RSA_2048');
    const ec = await external('pair-refusals-ec', 'EC_P256');
    const imp = async (keyId: string, pkcs8: Buffer, opts: Parameters<typeof wrapKeyPairWithOpenssl>[2] = {}, patch = {}) =>
      w.kms(t.admin!, 'import-key-material', { ...(await wrapped(keyId, pkcs8, opts)), ...patch });
    const wrongSize = await imp(rsa, customerPair('RSA_3072').pkcs8);
    expectKmsError(wrongSize, 400, 'KMS.2609');
    expect(wrongSize.json.error.error_msg).toMatch(/RSA 3072-bit key; this key is an RSA 2048-bit key/);
    expectKmsError(await imp(ec, customerPair('EC_P384').pkcs8), 400, 'KMS.2609');
    expectKmsError(await imp(ec, customerPair('SECP256K1').pkcs8), 400, 'KMS.2609');
    expectKmsError(await imp(rsa, customerPair('EC_P256').pkcs8), 400, 'KMS.2609');
    const garbage = await imp(rsa, randomBytes(1000));
    expectKmsError(garbage, 400, 'KMS.2609');
    const publicOnly = await imp(rsa, customerPair('RSA_2048').publicKey.export({ format: 'der', type: 'spki' }));
    expect(publicOnly.json).toEqual(garbage.json);

    const mine = customerPair('RSA_2048');
    const body = await wrapped(rsa, mine.pkcs8);
    const priv = Buffer.from(body.encrypted_privatekey, 'base64');
    const send = (patch: Record<string, unknown>) => w.kms(t.admin!, 'import-key-material', { ...body, ...patch });
    const truncated = await send({ encrypted_privatekey: priv.subarray(0, priv.length - 8).toString('base64') });
    expectKmsError(truncated, 400, 'KMS.0308');
    const tamperedKey = Buffer.from(body.encrypted_key_material, 'base64');
    tamperedKey[3]! ^= 1;
    for (const patch of [
      { encrypted_privatekey: randomBytes(priv.length).toString('base64') },
      { encrypted_key_material: tamperedKey.toString('base64') },
    ])
      expect((await send(patch)).json).toEqual(truncated.json);
    expectKmsError(await send({ encrypted_privatekey: undefined }), 400, 'KMS.2608');
    expectKmsError(await send({ encrypted_privatekey: 'not base64!' }), 400, 'KMS.0308');
    expectKmsError(await imp(rsa, mine.pkcs8, { temporary: randomBytes(24) }), 400, 'KMS.2610');
    expectKmsError(await w.kms(t.reader!, 'import-key-material', body), 403, 'KMS.0306');
    expectKmsError(await w.kms(t.other!, 'import-key-material', body, P2), 404, 'KMS.0207');
    expectKmsError(
      await w.kms(t.admin!, 'create-key', { key_alias: 'pair-ed', key_spec: 'ED25519', key_usage: 'SIGN_VERIFY', origin: 'external' }),
      400,
      'KMS.0308',
    );
    expect((await ok('describe-key', { key_id: rsa })).key_info.key_state).toBe('5');

    expect(await ok('import-key-material', body)).toEqual({});
    // spent with the key no longer pending; deleting a private key is refused
    expectKmsError(await send({}), 400, 'KMS.0310');
    expectKmsError(await w.kms(t.admin!, 'delete-imported-key-material', { key_id: rsa }), 400, 'KMS.2702');
    const generated = (await ok('create-key', { key_alias: 'pair-generated', key_spec: 'EC_P256', key_usage: 'SIGN_VERIFY' })).key_info
      .key_id;
    expectKmsError(
      await w.kms(t.admin!, 'get-parameters-for-import', { key_id: generated, wrapping_algorithm: 'RSAES_OAEP_SHA_256' }),
      400,
      'KMS.0310',
    );
    // parameters taken while pending import, used once the key is pending deletion
    const late = await wrapped(ec, customerPair('EC_P256').pkcs8);
    await ok('schedule-key-deletion', { key_id: ec, pending_days: '7' });
    expectKmsError(await w.kms(t.admin!, 'import-key-material', late), 400, 'KMS.0310');
  });

  it('expired token: KMS.2601', async () => {
    const id = await external('pair-expired', 'EC_P256');
    const body = await wrapped(id, customerPair('EC_P256').pkcs8);
    clock = new Date(clock.getTime() + 25 * 3_600_000);
    expectKmsError(await w.kms(t.admin!, 'import-key-material', body), 400, 'KMS.2601');
  });

  it('KMS.2606: material deleted (AES) or expired (a key pair) comes back only as itself', async () => {
    const aesId = (await ok('create-key', { key_alias: 'again-aes', origin: 'external' })).key_info.key_id as string;
    const aes = randomBytes(32);
    const importAes = async (bytes: Buffer) => {
      const p = await ok('get-parameters-for-import', { key_id: aesId, wrapping_algorithm: 'RSAES_OAEP_SHA_256' });
      return w.kms(t.admin!, 'import-key-material', {
        key_id: aesId,
        import_token: p.import_token,
        encrypted_key_material: wrapKeyWithOpenssl(Buffer.from(p.public_key, 'base64'), bytes).toString('base64'),
      });
    };
    expect((await importAes(aes)).status).toBe(200);
    const ct = (await ok('encrypt-data', { key_id: aesId, plain_text: 'kept' })).cipher_text;
    await ok('delete-imported-key-material', { key_id: aesId });
    const other = await importAes(randomBytes(32));
    expectKmsError(other, 400, 'KMS.2606');
    expect(other.json.error.error_msg).toMatch(/^You are importing a deleted key again/);
    expect((await importAes(aes)).status).toBe(200);
    expect((await ok('decrypt-data', { cipher_text: ct })).plain_text).toBe('kept');

    const pairId = await external('again-pair', 'EC_P384');
    const mine = customerPair('EC_P384');
    const expires = Math.floor(clock.getTime() / 1000) + 3600;
    await ok('import-key-material', { ...(await wrapped(pairId, mine.pkcs8)), expiration_time: expires });
    const msg = randomBytes(32);
    const sig = (await signRaw(pairId, msg, 'ECDSA_SHA_384')).signature;
    clock = new Date(clock.getTime() + 2 * 3_600_000);
    expect(await kms.expireImportedMaterial()).toBeGreaterThanOrEqual(1);
    expect((await ok('describe-key', { key_id: pairId })).key_info.key_state).toBe('5');
    expectKmsError(await w.kms(t.admin!, 'import-key-material', await wrapped(pairId, customerPair('EC_P384').pkcs8)), 400, 'KMS.2606');
    expect(await ok('import-key-material', await wrapped(pairId, mine.pkcs8))).toEqual({});
    const verified = await ok('verify', {
      key_id: pairId,
      message: msg.toString('base64'),
      signature: sig,
      signing_algorithm: 'ECDSA_SHA_384',
      message_type: 'RAW',
    });
    expect(verified.signature_valid).toBe('true');
  });
});
