import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '@polykms/core/testing';
import { opensslVerify } from '../../../packages/core/src/test-openssl.ts';
import { sdkKmsClient } from './client.ts';
import { P1, expectKmsError, openWorld, type World } from './setup.ts';

const sha = (alg: string, b: Buffer) => createHash(alg).update(b).digest();

describe.each(backends())('Huawei KMS dialect over HTTPS on %s', (backend) => {
  let w: World;
  let close: () => Promise<void>;
  let token: string;
  let ak: { access: string; secret: string };

  beforeAll(async () => {
    ({ w, close } = await openWorld(backend));
    const u = await w.user('alice', [{ id: P1, name: 'eu-de', roles: ['KMS Administrator'] }]);
    expect(u.id).toMatch(/^[0-9a-f]{32}$/);
    token = await w.token('alice', 'alice-password', P1);
    ak = await w.accessKey(u.id);
    expect(ak.access).toMatch(/^[A-Z0-9]{20}$/);
  });
  afterAll(() => close?.());

  const ok = async (verb: string, body: unknown) => {
    const r = await w.kms(token, verb, body);
    expect(r.status, `${verb}: ${r.text}`).toBe(200);
    return r.json;
  };
  const create = async (alias: string, key_spec?: string, key_usage?: string) =>
    (
      await ok('create-key', {
        key_alias: alias,
        ...(key_spec ? { key_spec } : {}),
        ...(key_usage ? { key_usage } : {}),
      })
    ).key_info.key_id as string;

  it('issues a token the Keystone way and runs the key lifecycle with it', async () => {
    const { call } = await import('./client.ts');
    const t = await call(w.server.url, w.ca, 'POST', '/v3/auth/tokens', {
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: 'alice', password: 'alice-password', domain: { name: 'acme' } } },
        },
        scope: { project: { name: 'eu-de' } },
      },
    });
    expect(t.status).toBe(201);
    expect(t.json.token.project).toMatchObject({ id: P1, name: 'eu-de' });
    expect(t.json.token.roles.map((r: { name: string }) => r.name)).toEqual(['KMS Administrator']);
    expect(t.json.token.catalog.find((e: { type: string }) => e.type === 'kms')).toBeTruthy();
    expect(Date.parse(t.json.token.expires_at) - Date.parse(t.json.token.issued_at)).toBe(86_400_000);
    const verified = await call(w.server.url, w.ca, 'GET', '/v3/auth/tokens', undefined, {
      'X-Auth-Token': token,
      'X-Subject-Token': t.headers['x-subject-token'] as string,
    });
    expect(verified.status).toBe(200);

    const created = await ok('create-key', {
      key_alias: 'life',
      key_description: 'first',
      realm: 'eu-de',
      sequence: '919c82d4-8046-4722-9094-35c3c6524cff',
    });
    expect(Object.keys(created.key_info).sort()).toEqual(['domain_id', 'key_id']);
    const id = created.key_info.key_id;
    const d = (await ok('describe-key', { key_id: id })).key_info;
    expect(d).toMatchObject({
      key_id: id,
      key_alias: 'life',
      key_spec: 'AES_256',
      key_usage: 'ENCRYPT_DECRYPT',
      key_description: 'first',
      key_state: '2',
      realm: 'eu-de',
      origin: 'kms',
      default_key_flag: '0',
      scheduled_deletion_date: '',
      key_rotation_enabled: 'false',
    });
    expect(d.creation_date).toMatch(/^\d{13}$/);
    for (const v of Object.values(d)) expect(typeof v).toBe('string');

    expect((await ok('update-key-alias', { key_id: id, key_alias: 'life2' })).key_info).toEqual({
      key_id: id,
      key_alias: 'life2',
    });
    expect((await ok('update-key-description', { key_id: id, key_description: '' })).key_info).toEqual({
      key_id: id,
      key_description: '',
    });
    expectKmsError(await w.kms(token, 'create-key', { key_alias: 'life2' }), 400, 'KMS.1104');

    expect(await ok('disable-key', { key_id: id })).toEqual({ key_info: { key_id: id, key_state: '3' } });
    expectKmsError(await w.kms(token, 'encrypt-data', { key_id: id, plain_text: 'x' }), 400, 'KMS.0209');
    expectKmsError(await w.kms(token, 'disable-key', { key_id: id }), 400, 'KMS.1301');
    expect(await ok('enable-key', { key_id: id })).toEqual({ key_info: { key_id: id, key_state: '2' } });
    expectKmsError(await w.kms(token, 'enable-key', { key_id: id }), 400, 'KMS.1201');

    // Terraform deletes an enabled key directly with pending_days "7" and wants the flat answer.
    for (const bad of ['6', '1097', 'seven', 3.5])
      expectKmsError(await w.kms(token, 'schedule-key-deletion', { key_id: id, pending_days: bad }), 400, 'KMS.1401');
    expect(await ok('schedule-key-deletion', { key_id: id, pending_days: '7' })).toEqual({
      key_id: id,
      key_state: '4',
    });
    const pending = (await ok('describe-key', { key_id: id })).key_info;
    expect(pending.key_state).toBe('4');
    expect(Number(pending.scheduled_deletion_date) - Date.now()).toBeGreaterThan(6.9 * 86_400_000);
    expectKmsError(await w.kms(token, 'encrypt-data', { key_id: id, plain_text: 'x' }), 400, 'KMS.0210');
    expectKmsError(await w.kms(token, 'schedule-key-deletion', { key_id: id, pending_days: 7 }), 400, 'KMS.1402');
    expectKmsError(await w.kms(token, 'update-key-alias', { key_id: id, key_alias: 'nope' }), 400, 'KMS.0210');
    expect(await ok('cancel-key-deletion', { key_id: id })).toEqual({ key_id: id, key_state: '3' });
    expectKmsError(await w.kms(token, 'cancel-key-deletion', { key_id: id }), 400, 'KMS.1501');
    expectKmsError(await w.kms(token, 'describe-key', { key_id: '00000000-0000-4000-8000-000000000000' }), 404, 'KMS.0207');
    expectKmsError(await w.kms(token, 'describe-key', { key_id: 'not-a-key' }), 400, 'KMS.0205');
  });

  it('lists with key_spec (AES_256 by default, ALL), key_state, string limit/marker, next_marker "" at the end', async () => {
    const aes = [await create('list-a1'), await create('list-a2')];
    const rsa = await create('list-r', 'RSA_2048');
    const all = await ok('list-keys', { key_spec: 'ALL', limit: '1000' });
    expect(all.keys).toEqual(expect.arrayContaining([...aes, rsa]));
    expect(all.key_details.map((k: { key_id: string }) => k.key_id)).toEqual(all.keys);
    expect(all).toMatchObject({ truncated: 'false', next_marker: '', total: all.keys.length });
    const def = await ok('list-keys', {});
    expect(def.keys).toEqual(expect.arrayContaining(aes));
    expect(def.keys).not.toContain(rsa);
    expect(def.key_details.every((k: { key_spec: string }) => k.key_spec === 'AES_256')).toBe(true);
    const seen: string[] = [];
    let marker: string | undefined;
    do {
      const p = await ok('list-keys', { key_spec: 'ALL', limit: 2, ...(marker ? { marker } : {}) });
      expect(p.keys.length).toBeLessThanOrEqual(2);
      seen.push(...p.keys);
      expect(p.truncated).toBe(p.next_marker ? 'true' : 'false');
      marker = p.next_marker;
    } while (marker);
    expect(seen).toEqual(all.keys);
    const rsaOnly = await ok('list-keys', { key_spec: 'RSA_2048', key_state: '2' });
    expect(rsaOnly.keys).toEqual([rsa]);
    expectKmsError(await w.kms(token, 'list-keys', { limit: '0' }), 400, 'KMS.1601');
    expectKmsError(await w.kms(token, 'list-keys', { limit: 'x' }), 400, 'KMS.1601');
    expectKmsError(await w.kms(token, 'list-keys', { marker: '-1' }), 400, 'KMS.1602');
    const inst = await w.kms(token, 'user-instances', undefined, P1, 'GET');
    expect(inst.json.instance_num).toBeGreaterThanOrEqual(3);
    const quotas = await w.kms(token, 'user-quotas', undefined, P1, 'GET');
    expect(quotas.json.quotas.resources[0]).toMatchObject({ type: 'CMK', used: inst.json.instance_num });
  });

  it('encrypt-data gives standard base64 that decrypt-data opens with only cipher_text; context binds', async () => {
    const id = await create('enc');
    const e = await ok('encrypt-data', { key_id: id, plain_text: 'abcd' });
    expect(Object.keys(e).sort()).toEqual(['cipher_text', 'key_id']);
    expect(e.cipher_text).toMatch(/^[0-9a-zA-Z+/=]{188,5648}$/);
    expect(e.cipher_text).toHaveLength(188);
    expect(await ok('decrypt-data', { cipher_text: e.cipher_text })).toEqual({
      key_id: id,
      plain_text: 'abcd',
      plain_text_base64: Buffer.from('abcd').toString('base64'),
    });
    // Vault's way: plain_text is base64 of a DEK, decrypted without key_id.
    const dek = randomBytes(32).toString('base64');
    const v = await ok('encrypt-data', { key_id: id, plain_text: dek, encryption_context: { b: '2', a: '1' } });
    expectKmsError(await w.kms(token, 'decrypt-data', { cipher_text: v.cipher_text }), 400, 'KMS.2201');
    expect((await ok('decrypt-data', { cipher_text: v.cipher_text, encryption_context: { a: '1', b: '2' } })).plain_text).toBe(dek);
    expectKmsError(await w.kms(token, 'decrypt-data', { cipher_text: 'not base64!!' }), 400, 'KMS.2201');
    expectKmsError(await w.kms(token, 'decrypt-data', { cipher_text: Buffer.from('x'.repeat(200)).toString('base64') }), 400, 'KMS.2201');
    const other = await create('enc-other');
    expectKmsError(await w.kms(token, 'decrypt-data', { cipher_text: e.cipher_text, key_id: other }), 400, 'KMS.2201');
    expectKmsError(await w.kms(token, 'encrypt-data', { key_id: id, plain_text: 'é'.repeat(2049) }), 400, 'KMS.2101');
    // RSA ENCRYPT_DECRYPT keys use OAEP and need key_id to decrypt.
    const rsa = await create('enc-rsa', 'RSA_3072', 'ENCRYPT_DECRYPT');
    const r = await ok('encrypt-data', {
      key_id: rsa,
      plain_text: 'secret',
      encryption_algorithm: 'RSAES_OAEP_SHA_256',
    });
    expect(Buffer.from(r.cipher_text, 'base64')).toHaveLength(384);
    expect(
      (
        await ok('decrypt-data', {
          cipher_text: r.cipher_text,
          key_id: rsa,
          encryption_algorithm: 'RSAES_OAEP_SHA_256',
        })
      ).plain_text,
    ).toBe('secret');
    expectKmsError(await w.kms(token, 'encrypt-data', { key_id: rsa, plain_text: 'x' }), 400, 'KMS.2106');
    expectKmsError(
      await w.kms(token, 'encrypt-data', { key_id: id, plain_text: 'x', encryption_algorithm: 'RSAES_OAEP_SHA_256' }),
      400,
      'KMS.2105',
    );
    const ec = await create('enc-ec', 'EC_P256');
    expectKmsError(await w.kms(token, 'encrypt-data', { key_id: ec, plain_text: 'x' }), 400, 'KMS.1114');
  });

  it('data keys are upper-case hex; encrypt-datakey takes DEK || SHA-256(DEK); decrypt-datakey returns the digest', async () => {
    const id = await create('dek');
    const c = await ok('create-datakey', { key_id: id, datakey_length: '512' });
    expect(c.plain_text).toMatch(/^[0-9A-F]{128}$/);
    expect(c.cipher_text).toMatch(/^[0-9A-F]+$/);
    expect(c.cipher_text).toHaveLength(376);
    const d = await ok('decrypt-datakey', { key_id: id, cipher_text: c.cipher_text, datakey_cipher_length: '64' });
    expect(d).toEqual({
      data_key: c.plain_text,
      datakey_length: '64',
      datakey_dgst: sha('sha256', Buffer.from(c.plain_text, 'hex')).toString('hex').toUpperCase(),
    });
    expectKmsError(
      await w.kms(token, 'decrypt-datakey', { key_id: id, cipher_text: c.cipher_text, datakey_cipher_length: '32' }),
      400,
      'KMS.2204',
    );
    const wo = await ok('create-datakey-without-plaintext', { key_id: id, key_spec: 'AES_128' });
    expect(Object.keys(wo).sort()).toEqual(['cipher_text', 'key_id']);
    expect(
      (
        await ok('decrypt-datakey', {
          key_id: id,
          cipher_text: wo.cipher_text.toLowerCase(),
          datakey_cipher_length: 16,
        })
      ).data_key,
    ).toMatch(/^[0-9A-F]{32}$/);
    const big = await ok('create-datakey', { key_id: id, datakey_length: 8192 });
    expect(big.plain_text).toHaveLength(2048);
    expect((await ok('decrypt-datakey', { key_id: id, cipher_text: big.cipher_text, datakey_cipher_length: '1024' })).data_key).toBe(
      big.plain_text,
    );
    const dek = randomBytes(64);
    const e = await ok('encrypt-datakey', {
      key_id: id,
      plain_text: dek.toString('hex') + sha('sha256', dek).toString('hex'),
      datakey_plain_length: '64',
    });
    expect(e.datakey_length).toBe('64');
    expect((await ok('decrypt-datakey', { key_id: id, cipher_text: e.cipher_text, datakey_cipher_length: '64' })).data_key).toBe(
      dek.toString('hex').toUpperCase(),
    );
    expectKmsError(
      await w.kms(token, 'encrypt-datakey', {
        key_id: id,
        plain_text: dek.toString('hex') + '00'.repeat(32),
        datakey_plain_length: '64',
      }),
      400,
      'KMS.2103',
    );
    expectKmsError(
      await w.kms(token, 'encrypt-datakey', {
        key_id: id,
        plain_text: dek.toString('hex'),
        datakey_plain_length: '64',
      }),
      400,
      'KMS.2104',
    );
    // A data-key ciphertext is not a data ciphertext, and the other way round.
    expectKmsError(
      await w.kms(token, 'decrypt-data', { cipher_text: Buffer.from(e.cipher_text, 'hex').toString('base64') }),
      400,
      'KMS.2201',
    );
    expectKmsError(
      await w.kms(token, 'decrypt-data', { cipher_text: Buffer.from(c.cipher_text, 'hex').toString('base64') }),
      400,
      'KMS.2201',
    );
    const data = await ok('encrypt-data', { key_id: id, plain_text: 'x'.repeat(64) });
    expectKmsError(
      await w.kms(token, 'decrypt-datakey', {
        key_id: id,
        cipher_text: Buffer.from(data.cipher_text, 'base64').toString('hex'),
        datakey_cipher_length: '64',
      }),
      400,
      'KMS.2201',
    );
    for (const bad of ['7', '8200', '12'])
      expectKmsError(
        await w.kms(token, 'create-datakey', { key_id: id, datakey_length: bad }),
        400,
        bad === '12' ? 'KMS.1903' : 'KMS.1901',
      );
    const rnd = await ok('gen-random', { random_data_length: '512' });
    expect(rnd.random_data).toMatch(/^[0-9A-F]{128}$/);
    expectKmsError(await w.kms(token, 'gen-random', { random_data_length: '12' }), 400, 'KMS.1802');
  });

  it('signs with every RSASSA_PSS, RSASSA_PKCS1_V1_5 and ECDSA algorithm, DIGEST and RAW; OpenSSL verifies each', async () => {
    const keys = {
      RSA: await create('sig-rsa', 'RSA_2048'),
      P256: await create('sig-p256', 'EC_P256'),
      P384: await create('sig-p384', 'EC_P384'),
    };
    const pem: Record<string, string> = {};
    for (const [k, id] of Object.entries(keys)) {
      const p = await ok('get-publickey', { key_id: id });
      expect(p.public_key).toMatch(/^-----BEGIN PUBLIC KEY-----\r\n[\s\S]+\r\n-----END PUBLIC KEY-----\r\n$/);
      pem[k] = p.public_key;
    }
    const msg = Buffer.from('polykms huawei ✓ message');
    const cases: [string, keyof typeof keys, string, string[]][] = [
      ['RSASSA_PKCS1_V1_5_SHA_256', 'RSA', 'sha256', []],
      ['RSASSA_PKCS1_V1_5_SHA_384', 'RSA', 'sha384', []],
      ['RSASSA_PKCS1_V1_5_SHA_512', 'RSA', 'sha512', []],
      ['RSASSA_PSS_SHA_256', 'RSA', 'sha256', ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32']],
      ['RSASSA_PSS_SHA_384', 'RSA', 'sha384', ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:48']],
      ['RSASSA_PSS_SHA_512', 'RSA', 'sha512', ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:64']],
      ['ECDSA_SHA_256', 'P256', 'sha256', []],
      ['ECDSA_SHA_384', 'P384', 'sha384', []],
    ];
    for (const [alg, k, hash, opts] of cases) {
      for (const [type, message] of [
        ['RAW', msg],
        ['DIGEST', sha(hash, msg)],
      ] as const) {
        const s = await ok('sign', {
          key_id: keys[k],
          signing_algorithm: alg,
          message_type: type,
          message: message.toString('base64'),
        });
        expect(s.key_id).toBe(keys[k]);
        const sig = Buffer.from(s.signature, 'base64');
        const v = opensslVerify(pem[k]!, msg, sig, hash, opts);
        expect(v.ok, `${alg} ${type}: ${v.out}`).toBe(true);
        const ver = await ok('verify', {
          key_id: keys[k],
          signing_algorithm: alg,
          message_type: type,
          message: message.toString('base64'),
          signature: s.signature,
        });
        expect(ver).toEqual({ key_id: keys[k], signature_valid: 'true' });
        sig[sig.length - 5]! ^= 1;
        expect(
          (
            await ok('verify', {
              key_id: keys[k],
              signing_algorithm: alg,
              message_type: type,
              message: message.toString('base64'),
              signature: sig.toString('base64'),
            })
          ).signature_valid,
        ).toBe('false');
      }
    }
    // The default message_type is DIGEST.
    const dflt = await ok('sign', {
      key_id: keys.P256,
      signing_algorithm: 'ECDSA_SHA_256',
      message: sha('sha256', msg).toString('base64'),
    });
    expect(opensslVerify(pem.P256!, msg, Buffer.from(dflt.signature, 'base64'), 'sha256').ok).toBe(true);
    expectKmsError(
      await w.kms(token, 'sign', {
        key_id: keys.RSA,
        signing_algorithm: 'RSASSA_PSS_SHA_256',
        message_type: 'DIGEST',
        message: Buffer.alloc(20).toString('base64'),
      }),
      400,
      'KMS.0329',
    );
    expectKmsError(
      await w.kms(token, 'sign', {
        key_id: keys.P256,
        signing_algorithm: 'ECDSA_SHA_384',
        message_type: 'RAW',
        message: 'AAAA',
      }),
      400,
      'KMS.0332',
    );
    expectKmsError(
      await w.kms(token, 'sign', {
        key_id: keys.RSA,
        signing_algorithm: 'ECDSA_SHA_256',
        message_type: 'RAW',
        message: 'AAAA',
      }),
      400,
      'KMS.0332',
    );
    expectKmsError(await w.kms(token, 'sign', { key_id: keys.RSA, signing_algorithm: 'SM2DSA_SM3', message: 'AAAA' }), 400, 'KMS.0332');
    expectKmsError(await w.kms(token, 'sign', { key_id: keys.RSA, signing_algorithm: 'RSA_MADE_UP', message: 'AAAA' }), 400, 'KMS.0308');
    expectKmsError(
      await w.kms(token, 'sign', { key_id: keys.RSA, signing_algorithm: 'RSASSA_PSS_SHA_256', message: 'A===' }),
      400,
      'KMS.0308',
    );
    // Beyond ASCII: Node's decoder would read U+0141 as 'A' and U+012D as '-'.
    for (const message of ['AAA\u0141', 'AAA\u012d'])
      expectKmsError(await w.kms(token, 'sign', { key_id: keys.RSA, signing_algorithm: 'RSASSA_PSS_SHA_256', message }), 400, 'KMS.0308');
    const aes = await create('sig-aes');
    expectKmsError(
      await w.kms(token, 'sign', {
        key_id: aes,
        signing_algorithm: 'RSASSA_PSS_SHA_256',
        message_type: 'RAW',
        message: 'AAAA',
      }),
      400,
      'KMS.1115',
    );
    const enc = await create('sig-rsa-enc', 'RSA_2048', 'ENCRYPT_DECRYPT');
    expectKmsError(
      await w.kms(token, 'sign', {
        key_id: enc,
        signing_algorithm: 'RSASSA_PSS_SHA_256',
        message_type: 'RAW',
        message: 'AAAA',
      }),
      400,
      'KMS.0334',
    );
    expectKmsError(await w.kms(token, 'get-publickey', { key_id: aes }), 400, 'KMS.0331');
  });

  it("answers the seed documents' examples (003 pt-BR, 004 en)", async () => {
    const id = await create('seed', 'RSA_2048');
    // 003: no message_type, a 31-byte "digest": signed, and the signature verifies.
    const s = await ok('sign', {
      key_id: id,
      signing_algorithm: 'RSASSA_PKCS1_V1_5_SHA_256',
      message: 'MmFiZWE0ZjI3ZGIxYTkzY2RmYmEzM2YwMTA1YmJjYw==',
    });
    expect(Object.keys(s).sort()).toEqual(['key_id', 'signature']);
    expect(
      (
        await ok('verify', {
          key_id: id,
          signing_algorithm: 'RSASSA_PKCS1_V1_5_SHA_256',
          signature: s.signature,
          message: 'MmFiZWE0ZjI3ZGIxYTkzY2RmYmEzM2YwMTA1YmJjYw==',
        })
      ).signature_valid,
    ).toBe('true');
    // 004: RAW "hello " and a DIGEST whose base64 has non-zero trailing bits ("…FYK=").
    const raw = await ok('sign', {
      key_id: id,
      message: 'aGVsbG8g',
      signing_algorithm: 'RSASSA_PSS_SHA_256',
      message_type: 'RAW',
    });
    expect(Buffer.from(raw.signature, 'base64')).toHaveLength(256);
    const dig = await ok('sign', {
      key_id: id,
      message: 'iNQmb9TmM40TuEX88olXnSCciXgjuSF9o+Fhk28DFYK=',
      signing_algorithm: 'RSASSA_PSS_SHA_256',
      message_type: 'DIGEST',
    });
    expect(
      (
        await ok('verify', {
          key_id: id,
          message: 'iNQmb9TmM40TuEX88olXnSCciXgjuSF9o+Fhk28DFYK=',
          signature: dig.signature,
          signing_algorithm: 'RSASSA_PSS_SHA_256',
          message_type: 'DIGEST',
        })
      ).signature_valid,
    ).toBe('true');
  });

  it('MACs, rotation switches and tags', async () => {
    const h = await create('mac', 'HMAC_256');
    expect((await ok('describe-key', { key_id: h })).key_info).toMatchObject({
      key_spec: 'HMAC_256',
      key_usage: 'GENERATE_VERIFY_MAC',
    });
    const m = await ok('generate-mac', { key_id: h, mac_algorithm: 'HMAC_SHA_256', message: 'aGVsbG8=' });
    expect(Buffer.from(m.mac, 'base64')).toHaveLength(32);
    expect(await ok('verify-mac', { key_id: h, mac_algorithm: 'HMAC_SHA_256', message: 'aGVsbG8=', mac: m.mac })).toEqual({
      key_id: h,
      mac_algorithm: 'HMAC_SHA_256',
      mac_valid: true,
    });
    expectKmsError(await w.kms(token, 'generate-mac', { key_id: h, mac_algorithm: 'HMAC_SHA_512', message: 'aGVsbG8=' }), 400, 'KMS.0332');

    const id = await create('rot');
    const before = await ok('encrypt-data', { key_id: id, plain_text: 'old' });
    expect(await ok('enable-key-rotation', { key_id: id, rotation_interval: 0 })).toEqual({});
    expect(await ok('update-key-rotation-interval', { key_id: id, rotation_interval: 90 })).toEqual({});
    expectKmsError(await w.kms(token, 'update-key-rotation-interval', { key_id: id, rotation_interval: 10 }), 400, 'KMS.3001');
    expect(await ok('rotate-on-demand', { key_id: id })).toEqual({ key_id: id });
    const st = await ok('get-key-rotation-status', { key_id: id });
    expect(st).toMatchObject({ key_rotation_enabled: true, rotation_interval: 90, number_of_rotations: 1 });
    expect((await ok('describe-key', { key_id: id })).key_info.key_rotation_enabled).toBe('true');
    expect((await ok('decrypt-data', { cipher_text: before.cipher_text })).plain_text).toBe('old');
    expect(await ok('disable-key-rotation', { key_id: id })).toEqual({});
    expectKmsError(await w.kms(token, 'enable-key-rotation', { key_id: await create('rot-rsa', 'RSA_2048') }), 400, 'KMS.0324');

    const tag = (body: unknown, path = `${id}/tags`) => w.kms(token, path, body);
    expect((await tag({ tag: { key: 'env', value: 'prod' } })).status).toBe(204);
    expect(
      (
        await tag(
          {
            action: 'create',
            tags: [
              { key: 'team', value: 'sec' },
              { key: 'tier', value: '1' },
            ],
          },
          `${id}/tags/action`,
        )
      ).status,
    ).toBe(204);
    expect((await w.kms(token, `${id}/tags`, undefined, P1, 'GET')).json).toEqual({
      tags: [
        { key: 'env', value: 'prod' },
        { key: 'team', value: 'sec' },
        { key: 'tier', value: '1' },
      ],
      existTagsNum: 3,
    });
    expect((await w.kms(token, `${id}/tags/tier`, undefined, P1, 'DELETE')).status).toBe(204);
    expectKmsError(await w.kms(token, `${id}/tags/tier`, undefined, P1, 'DELETE'), 404, 'KMS.0416');
    // A key has no tag named after a member of Object's prototype.
    expectKmsError(await w.kms(token, `${id}/tags/constructor`, undefined, P1, 'DELETE'), 404, 'KMS.0416');
    expect((await tag({ action: 'delete', tags: [{ key: 'team', value: 'sec' }] }, `${id}/tags/action`)).status).toBe(204);
    expect((await w.kms(token, 'tags', undefined, P1, 'GET')).json.tags).toEqual([{ key: 'env', values: ['prod'] }]);
    expectKmsError(await tag({ tag: { key: 'bad=key', value: 'x' } }), 400, 'KMS.0406');
    expectKmsError(
      await tag({ action: 'create', tags: Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: 'v' })) }, `${id}/tags/action`),
      400,
      'KMS.0409',
    );
  });

  it('runs the lifecycle and the crypto with AK/SK requests signed and sent by the official Node SDK core', async () => {
    const sdk = sdkKmsClient(`https://localhost:${w.server.port}`, w.ca, {
      ak: ak.access,
      sk: ak.secret,
      projectId: P1,
    });
    const created = await sdk.post('create-key', { key_alias: 'sdk-aes', key_description: 'signed ✓' });
    expect(created.httpStatusCode).toBe(200);
    const id = created.key_info.key_id;
    const enc = await sdk.post('encrypt-data', { key_id: id, plain_text: 'hello ✓ 7a238b56' });
    expect((await sdk.post('decrypt-data', { cipher_text: enc.cipher_text })).plain_text).toBe('hello ✓ 7a238b56');
    const dk = await sdk.post('create-datakey', { key_id: id, datakey_length: '256' });
    expect((await sdk.post('decrypt-datakey', { key_id: id, cipher_text: dk.cipher_text, datakey_cipher_length: '32' })).data_key).toBe(
      dk.plain_text,
    );
    expect((await sdk.post('gen-random', { random_data_length: '256' })).random_data).toMatch(/^[0-9A-F]{64}$/);
    expect((await sdk.post('describe-key', { key_id: id })).key_info.key_description).toBe('signed ✓');
    expect((await sdk.post('list-keys', { limit: '100', key_spec: 'ALL' })).keys).toContain(id);
    expect((await sdk.post('disable-key', { key_id: id })).key_info.key_state).toBe('3');
    expect((await sdk.post('enable-key', { key_id: id })).key_info.key_state).toBe('2');
    const rsa = (await sdk.post('create-key', { key_alias: 'sdk-rsa', key_spec: 'RSA_4096', key_usage: 'SIGN_VERIFY' })).key_info.key_id;
    const digest = sha('sha256', Buffer.from('sdk')).toString('base64');
    const sig = await sdk.post('sign', {
      key_id: rsa,
      message: digest,
      signing_algorithm: 'RSASSA_PKCS1_V1_5_SHA_256',
    });
    expect(
      (
        await sdk.post('verify', {
          key_id: rsa,
          message: digest,
          signature: sig.signature,
          signing_algorithm: 'RSASSA_PKCS1_V1_5_SHA_256',
        })
      ).signature_valid,
    ).toBe('true');
    expect((await sdk.post('schedule-key-deletion', { key_id: rsa, pending_days: '7' })).key_state).toBe('4');
    expect((await sdk.post('cancel-key-deletion', { key_id: rsa })).key_state).toBe('3');
    // Errors reach the SDK with Huawei's status; the SDK does not parse the nested body (wire notes §3).
    const err = await sdk.post('describe-key', { key_id: '00000000-0000-4000-8000-000000000000' }).then(
      () => undefined,
      (e: { httpStatusCode?: number }) => e,
    );
    expect(err?.httpStatusCode).toBe(404);
    const wrong = sdkKmsClient(`https://localhost:${w.server.port}`, w.ca, {
      ak: ak.access,
      sk: 'x'.repeat(40),
      projectId: P1,
    });
    const refused = await wrong.post('describe-key', { key_id: id }).then(
      () => undefined,
      (e: { httpStatusCode?: number; errorCode?: string }) => e,
    );
    expect(refused).toMatchObject({ httpStatusCode: 401, errorCode: 'APIGW.0301' });
  });
});
