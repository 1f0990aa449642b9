import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openssl, opensslVerify } from '../../../packages/core/src/test-openssl.ts';
import { P1, expectKmsError, openWorld, type World } from './setup.ts';

const b64 = (b: Buffer | string) => Buffer.from(b).toString('base64');

// Signatures and MACs do not depend on the store: PGlite alone.
describe('Huawei key specs ED25519, SECP256K1 and HMAC', () => {
  let w: World;
  let close: () => Promise<void>;
  let token: string;

  beforeAll(async () => {
    ({ w, close } = await openWorld('pglite'));
    await w.user('alice', [{ id: P1, roles: ['KMS Administrator'] }]);
    token = await w.token('alice', 'alice-password', P1);
  }, 120_000);
  afterAll(() => close?.());

  const ok = async (verb: string, body: unknown) => {
    const r = await w.kms(token, verb, body);
    expect(r.status, `${verb}: ${r.text}`).toBe(200);
    return r.json;
  };
  const create = async (key_alias: string, key_spec: string, key_usage?: string) =>
    (await ok('create-key', { key_alias, key_spec, ...(key_usage ? { key_usage } : {}) })).key_info.key_id as string;
  const publicKey = async (key_id: string) => (await ok('get-publickey', { key_id })).public_key as string;

  it('ED25519: signs the message as given; OpenSSL verifies; tampering and other algorithms are refused', async () => {
    const id = await create('ed', 'ED25519');
    expect((await ok('describe-key', { key_id: id })).key_info).toMatchObject({
      key_spec: 'ED25519',
      key_usage: 'SIGN_VERIFY',
      key_type: '2',
    });
    const msg = Buffer.from('release 2.0');
    const pem = await publicKey(id);
    expect(pem).toMatch(/^-----BEGIN PUBLIC KEY-----\r\n/);
    for (const message_type of ['RAW', 'DIGEST', undefined]) {
      const body = { key_id: id, message: b64(msg), signing_algorithm: 'ED25519_SHA_512', ...(message_type ? { message_type } : {}) };
      const sig = Buffer.from((await ok('sign', body)).signature, 'base64');
      expect(sig).toHaveLength(64);
      const check = (m: Buffer) => opensslVerify(pem, m, sig).ok;
      expect(check(msg)).toBe(true);
      expect(check(Buffer.from('release 2.1'))).toBe(false);
      expect((await ok('verify', { ...body, signature: b64(sig) })).signature_valid).toBe('true');
      expect((await ok('verify', { ...body, message: b64('release 2.1'), signature: b64(sig) })).signature_valid).toBe('false');
    }
    for (const signing_algorithm of ['ED25519_PH_SHA_512', 'ECDSA_SHA_256', 'RSASSA_PSS_SHA_256', 'SM2DSA_SM3'])
      expectKmsError(
        await w.kms(token, 'sign', { key_id: id, message: b64(msg), signing_algorithm, message_type: 'RAW' }),
        400,
        'KMS.0332',
      );
    expectKmsError(await w.kms(token, 'encrypt-data', { key_id: id, plain_text: 'x' }), 400, 'KMS.1114');
    expectKmsError(await w.kms(token, 'generate-mac', { key_id: id, mac_algorithm: 'HMAC_SHA_256', message: b64(msg) }), 400, 'KMS.0325');
    expectKmsError(
      await w.kms(token, 'create-key', { key_alias: 'ed-enc', key_spec: 'ED25519', key_usage: 'ENCRYPT_DECRYPT' }),
      400,
      'KMS.1114',
    );
    const listed = await ok('list-keys', { key_spec: 'ED25519' });
    expect(listed.keys).toEqual([id]);
  });

  it('SECP256K1: ECDSA_SHA_256 over a digest or a message, DER, verified by OpenSSL', async () => {
    const id = await create('k1', 'SECP256K1', 'SIGN_VERIFY');
    expect((await ok('describe-key', { key_id: id })).key_info).toMatchObject({ key_spec: 'SECP256K1', key_usage: 'SIGN_VERIFY' });
    const pem = await publicKey(id);
    expect(openssl({ 'p.pem': pem }, () => ['pkey', '-pubin', '-in', 'p.pem', '-noout', '-text']).out).toMatch(/secp256k1/);
    const msg = Buffer.from('transfer 10 coins');
    const digest = createHash('sha256').update(msg).digest();
    for (const [message, message_type] of [
      [digest, 'DIGEST'],
      [msg, 'RAW'],
    ] as const) {
      const body = { key_id: id, message: b64(message), signing_algorithm: 'ECDSA_SHA_256', message_type };
      const sig = Buffer.from((await ok('sign', body)).signature, 'base64');
      const check = (m: Buffer) => opensslVerify(pem, m, sig, 'sha256').ok;
      expect(check(msg)).toBe(true);
      expect(check(Buffer.from('transfer 99 coins'))).toBe(false);
      expect((await ok('verify', { ...body, signature: b64(sig) })).signature_valid).toBe('true');
      const flipped = Buffer.from(sig);
      flipped[flipped.length - 1]! ^= 1;
      expect((await ok('verify', { ...body, signature: b64(flipped) })).signature_valid).toBe('false');
    }
    for (const signing_algorithm of ['ECDSA_SHA_384', 'ECDSA_SHA_512', 'ED25519_SHA_512'])
      expectKmsError(
        await w.kms(token, 'sign', { key_id: id, message: b64(msg), signing_algorithm, message_type: 'RAW' }),
        400,
        'KMS.0332',
      );
    expectKmsError(
      await w.kms(token, 'sign', { key_id: id, message: b64(msg), signing_algorithm: 'ECDSA_SHA_256', message_type: 'DIGEST' }),
      400,
      'KMS.0329',
    );
    expectKmsError(await w.kms(token, 'encrypt-data', { key_id: id, plain_text: 'x' }), 400, 'KMS.1114');
  });

  it('HMAC_256/384/512: MACs are deterministic, verify, and a changed MAC or message does not', async () => {
    for (const bits of [256, 384, 512]) {
      const id = await create(`mac-${bits}`, `HMAC_${bits}`);
      const mac_algorithm = `HMAC_SHA_${bits}`;
      const message = b64('the same message');
      const a = await ok('generate-mac', { key_id: id, mac_algorithm, message });
      const b = await ok('generate-mac', { key_id: id, mac_algorithm, message });
      expect(a).toEqual({ key_id: id, mac_algorithm, mac: b.mac });
      const mac = Buffer.from(a.mac, 'base64');
      expect(mac).toHaveLength(bits / 8);
      expect(await ok('verify-mac', { key_id: id, mac_algorithm, message, mac: a.mac })).toEqual({
        key_id: id,
        mac_algorithm,
        mac_valid: true,
      });
      const flipped = Buffer.from(mac);
      flipped[0]! ^= 0x80;
      expect((await ok('verify-mac', { key_id: id, mac_algorithm, message, mac: b64(flipped) })).mac_valid).toBe(false);
      expect((await ok('verify-mac', { key_id: id, mac_algorithm, message: b64('another message'), mac: a.mac })).mac_valid).toBe(false);
      expect((await ok('verify-mac', { key_id: id, mac_algorithm, message, mac: b64(mac.subarray(1)) })).mac_valid).toBe(false);
      const other = bits === 256 ? 'HMAC_SHA_384' : 'HMAC_SHA_256';
      expectKmsError(await w.kms(token, 'generate-mac', { key_id: id, mac_algorithm: other, message }), 400, 'KMS.0332');
      expectKmsError(
        await w.kms(token, 'sign', { key_id: id, message, signing_algorithm: 'ECDSA_SHA_256', message_type: 'RAW' }),
        400,
        'KMS.0341',
      );
    }
  });

  it('refuses the Chinese national algorithms with KMS.0308', async () => {
    for (const key_spec of ['SM2', 'SM4', 'HMAC_SM3'])
      expectKmsError(await w.kms(token, 'create-key', { key_alias: `nat-${key_spec}`, key_spec }), 400, 'KMS.0308');
  });
});
