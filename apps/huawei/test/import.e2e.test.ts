import { randomBytes, webcrypto } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCiphertext, type Kms } from '@polykms/core';
import { backends } from '@polykms/core/testing';
import { wrapKeyWithOpenssl } from '../../../packages/core/src/test-openssl.ts';
import { unwrapCiphertext } from '../src/envelope.ts';
import { sdkKmsClient } from './client.ts';
import { P1, P2, expectKmsError, openWorldWithUsers, type World } from './setup.ts';

/**
 * Key material import, bring your own key (huawei-kms.md §2.6): a key created with `origin: external`
 * waits in state "5" for the material the customer wraps under the gateway's RSA wrapping key.
 */
describe.each(backends())('Huawei key material import on %s', (backend) => {
  let kms: Kms, w: World, t: Record<string, string>, ak: { access: string; secret: string }, close: () => Promise<void>;
  let clock = new Date();
  beforeAll(async () => {
    ({ kms, w, t, ak, close } = await openWorldWithUsers(backend, { now: () => clock }));
  });
  afterAll(() => close?.());

  const ok = async (who: string, verb: string, body: unknown) => {
    const r = await w.kms(t[who]!, verb, body);
    expect(r.status, `${who} ${verb}: ${r.text}`).toBe(200);
    return r.json;
  };
  const external = async (alias: string) =>
    (await ok('admin', 'create-key', { key_alias: alias, origin: 'external' })).key_info.key_id as string;
  /** The customer wraps with WebCrypto's RSA-OAEP under the public key the gateway handed out. */
  const wrap = async (publicKey: string, material: Uint8Array, hash: 'SHA-1' | 'SHA-256' = 'SHA-256') => {
    const pub = await webcrypto.subtle.importKey('spki', Buffer.from(publicKey, 'base64'), { name: 'RSA-OAEP', hash }, false, ['encrypt']);
    return Buffer.from(await webcrypto.subtle.encrypt({ name: 'RSA-OAEP' }, pub, material)).toString('base64');
  };
  /** Opens encrypt-data's cipher_text with the customer's own bytes: the gateway encrypted under exactly them. */
  const openLocally = async (aes: Buffer, cipherText: string) => {
    const p = parseCiphertext(unwrapCiphertext(Buffer.from(cipherText, 'base64')).coreBlob);
    const k = await webcrypto.subtle.importKey('raw', aes, 'AES-GCM', false, ['decrypt']);
    const pt = await webcrypto.subtle.decrypt(
      { name: 'AES-GCM', iv: p.parts.iv, additionalData: p.header },
      k,
      Buffer.concat([p.parts.ciphertext, p.parts.tag]),
    );
    return Buffer.from(pt).toString();
  };

  it('runs the import with the official Node SDK core: pending import, parameters, import, use, delete, import again', async () => {
    const sdk = sdkKmsClient(`https://localhost:${w.server.port}`, w.ca, { ak: ak.access, sk: ak.secret, projectId: P1 });
    const id = (await sdk.post('create-key', { key_alias: 'byok-sdk', origin: 'external' })).key_info.key_id;
    expect((await sdk.post('describe-key', { key_id: id })).key_info).toMatchObject({
      key_state: '5',
      origin: 'external',
      expiration_time: '',
    });
    const unusable = await sdk.post('encrypt-data', { key_id: id, plain_text: 'x' }).then(
      () => undefined,
      (e: { httpStatusCode?: number }) => e,
    );
    // the SDK reads a flat error_code; Huawei's KMS body is nested (codes are checked over raw HTTP below)
    expect(unusable?.httpStatusCode).toBe(400);
    const p = await sdk.post('get-parameters-for-import', { key_id: id, wrapping_algorithm: 'RSAES_OAEP_SHA_256' });
    expect(
      Object.keys(p)
        .filter((k) => k !== 'httpStatusCode')
        .sort(),
    ).toEqual(['expiration_time', 'import_token', 'key_id', 'public_key']);
    expect(p.key_id).toBe(id);
    expect(p.import_token).toMatch(/^[A-Za-z0-9+/]{200}$/);
    expect(p.expiration_time).toBe(Math.floor(clock.getTime() / 1000) + 86_400);
    const aes = randomBytes(32);
    const expires = Math.floor(clock.getTime() / 1000) + 3600;
    const imported = await sdk.post('import-key-material', {
      key_id: id,
      import_token: p.import_token,
      encrypted_key_material: await wrap(p.public_key, aes),
      expiration_time: expires,
    });
    expect(imported.httpStatusCode).toBe(200);
    expect((await sdk.post('describe-key', { key_id: id })).key_info).toMatchObject({
      key_state: '2',
      expiration_time: String(expires * 1000),
    });
    const enc = await sdk.post('encrypt-data', { key_id: id, plain_text: 'brought here' });
    expect(await openLocally(aes, enc.cipher_text)).toBe('brought here');

    expect((await sdk.post('delete-imported-key-material', { key_id: id })).httpStatusCode).toBe(200);
    expect((await sdk.post('describe-key', { key_id: id })).key_info.key_state).toBe('5');
    // again, RSA-OAEP SHA-1 wrapped by the OpenSSL CLI: the same material opens what the first import encrypted
    const q = await sdk.post('get-parameters-for-import', { key_id: id, wrapping_algorithm: 'RSAES_OAEP_SHA_1' });
    await sdk.post('import-key-material', {
      key_id: id,
      import_token: q.import_token,
      encrypted_key_material: wrapKeyWithOpenssl(Buffer.from(q.public_key, 'base64'), aes, 'sha1').toString('base64'),
    });
    expect((await sdk.post('decrypt-data', { cipher_text: enc.cipher_text })).plain_text).toBe('brought here');
    expect((await sdk.post('list-keys', { key_state: '2', key_spec: 'ALL' })).keys).toContain(id);
  });

  it('material past its expiration_time is unusable at once, and the sweep takes the key back to pending import', async () => {
    const id = await external('byok-expiring');
    const p = await ok('admin', 'get-parameters-for-import', { key_id: id, wrapping_algorithm: 'RSAES_OAEP_SHA_256' });
    const expires = Math.floor(clock.getTime() / 1000) + 3600;
    await ok('admin', 'import-key-material', {
      key_id: id,
      import_token: p.import_token,
      encrypted_key_material: await wrap(p.public_key, randomBytes(32)),
      expiration_time: String(expires),
    });
    await ok('admin', 'encrypt-data', { key_id: id, plain_text: 'x' });
    clock = new Date(clock.getTime() + 2 * 3_600_000);
    const expired = await w.kms(t.admin!, 'encrypt-data', { key_id: id, plain_text: 'x' });
    expectKmsError(expired, 400, 'KMS.0308');
    expect(expired.json.error.error_msg).toMatch(/material has expired/);
    expect(await kms.expireImportedMaterial()).toBeGreaterThanOrEqual(1);
    expect((await ok('admin', 'describe-key', { key_id: id })).key_info).toMatchObject({ key_state: '5', expiration_time: '' });
    expect((await ok('admin', 'list-keys', { key_state: '5', key_spec: 'ALL' })).keys).toContain(id);
  });

  it('refuses RSAES_PKCS1_V1_5, bad tokens and material, wrong keys and states, roles and projects, with Huawei codes', async () => {
    const id = await external('byok-refusals');
    const other = await external('byok-other');
    const generated = (await ok('admin', 'create-key', { key_alias: 'byok-generated' })).key_info.key_id;
    const params = (key_id: string, wrapping_algorithm = 'RSAES_OAEP_SHA_256') =>
      w.kms(t.admin!, 'get-parameters-for-import', { key_id, wrapping_algorithm });
    const pkcs1 = await params(id, 'RSAES_PKCS1_V1_5');
    expectKmsError(pkcs1, 400, 'KMS.0308');
    expect(pkcs1.json.error.error_msg).toMatch(/padding oracle/);
    expectKmsError(await params(id, 'SM2_ENCRYPT'), 400, 'KMS.0308');
    expectKmsError(await params(generated), 400, 'KMS.0310');
    expectKmsError(
      await w.kms(t.reader!, 'get-parameters-for-import', { key_id: id, wrapping_algorithm: 'RSAES_OAEP_SHA_256' }),
      403,
      'KMS.0306',
    );
    expectKmsError(
      await w.kms(t.other!, 'get-parameters-for-import', { key_id: id, wrapping_algorithm: 'RSAES_OAEP_SHA_256' }, P2),
      404,
      'KMS.0207',
    );
    expectKmsError(
      await w.kms(t.admin!, 'create-key', { key_alias: 'byok-ed', key_spec: 'ED25519', key_usage: 'SIGN_VERIFY', origin: 'external' }),
      400,
      'KMS.0308',
    );

    const p = (await params(id)).json;
    const q = (await params(other)).json;
    const aes = randomBytes(32);
    const imp = async (body: Record<string, unknown>) =>
      w.kms(t.admin!, 'import-key-material', {
        key_id: id,
        import_token: p.import_token,
        encrypted_key_material: await wrap(p.public_key, aes),
        ...body,
      });
    expectKmsError(await imp({ import_token: randomBytes(150).toString('base64') }), 400, 'KMS.2605');
    expectKmsError(await imp({ import_token: q.import_token }), 400, 'KMS.2603');
    const tampered = Buffer.from(await wrap(p.public_key, aes), 'base64');
    tampered[7]! ^= 1;
    const a = await imp({ encrypted_key_material: tampered.toString('base64') });
    const b = await imp({ encrypted_key_material: await wrap(p.public_key, aes, 'SHA-1') });
    expectKmsError(a, 400, 'KMS.0308');
    expect(b.json).toEqual(a.json);
    expectKmsError(await imp({ encrypted_key_material: await wrap(p.public_key, randomBytes(16)) }), 400, 'KMS.2604');
    expectKmsError(await imp({ expiration_time: Math.floor(clock.getTime() / 1000) - 10 }), 400, 'KMS.2602');
    expectKmsError(await imp({ encrypted_privatekey: 'AAAA' }), 400, 'KMS.0308');
    expectKmsError(await imp({ encrypted_key_material: 'not base64!' }), 400, 'KMS.0308');
    expectKmsError(await w.kms(t.admin!, 'delete-imported-key-material', { key_id: generated }), 400, 'KMS.0309');
    expectKmsError(await w.kms(t.admin!, 'delete-imported-key-material', { key_id: id }), 400, 'KMS.2701');
    expectKmsError(await w.kms(t.reader!, 'delete-imported-key-material', { key_id: id }), 403, 'KMS.0306');
    expect((await ok('admin', 'describe-key', { key_id: id })).key_info.key_state).toBe('5');
    expect((await imp({})).status).toBe(200);
    // a token is spent once used; an expired one is refused
    const again = await w.kms(t.admin!, 'import-key-material', {
      key_id: id,
      import_token: p.import_token,
      encrypted_key_material: await wrap(p.public_key, aes),
    });
    expectKmsError(again, 400, 'KMS.0310');
    clock = new Date(clock.getTime() + 25 * 3_600_000);
    expectKmsError(
      await w.kms(t.admin!, 'import-key-material', {
        key_id: other,
        import_token: q.import_token,
        encrypted_key_material: await wrap(q.public_key, aes),
      }),
      400,
      'KMS.2601',
    );
  });
});
