import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kms } from '@polykms/core';
import { expectRefusalsBounded } from '../../../packages/core/src/test-expect.ts';
import { canonicalRequest, formatSdkDate, signString, stringToSign } from '../src/signer.ts';
import { call, type Reply } from './client.ts';
import { P1, P2, expectApigwError, expectKmsError, openWorld, type World } from './setup.ts';

/** An AK/SK request signed the way the Node SDK signs it (content-type;host;x-project-id;x-sdk-date). */
function signed(
  w: World,
  creds: { ak: string; sk: string },
  path: string,
  body: unknown,
  opts: { date?: Date; projectHeader?: string; method?: string; signAs?: string } = {},
): Promise<Reply> {
  const method = opts.method ?? 'POST';
  const payload = method === 'GET' || method === 'HEAD' || method === 'DELETE' ? '' : JSON.stringify(body ?? {});
  const host = `localhost:${w.server.port}`;
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    host,
    'x-project-id': opts.projectHeader ?? P1,
    'x-sdk-date': formatSdkDate(opts.date ?? new Date()),
  };
  const cr = canonicalRequest({
    method: opts.signAs ?? method,
    canonicalUri: `${path}/`,
    canonicalQuery: '',
    signedHeaders: Object.keys(headers),
    header: (n) => headers[n],
    payloadHash: createHash('sha256').update(payload).digest('hex'),
  });
  const sig = signString(creds.sk, stringToSign(headers['x-sdk-date']!, cr));
  return call(w.server.url, w.ca, method, path, payload === '' ? undefined : payload, {
    ...headers,
    Authorization: `SDK-HMAC-SHA256 Access=${creds.ak}, SignedHeaders=${Object.keys(headers).join(';')}, Signature=${sig}`,
  });
}

/**
 * The common security cases, run against every KMS route: no credentials, a forged or expired token,
 * a bad AK/SK signature or a stale X-Sdk-Date -> 401 APIGW.0301 (flat); a token of another project ->
 * 403 KMS.0321; a read-only role -> 403 KMS.0306 where it writes or uses a key; another project's key
 * -> 404 KMS.0207.
 */
describe('every Huawei route refuses who it should', () => {
  let kms: Kms;
  let w: World;
  let close: () => Promise<void>;
  const t: Record<string, string> = {};
  let ak: { ak: string; sk: string };
  let keyId: string;
  let rsaId: string;
  let cipher: string;
  let dekCipher: string;
  let readerId: string;
  const started = Date.now();

  beforeAll(async () => {
    ({ kms, w, close } = await openWorld('pglite'));
    const admin = await w.user('admin', [{ id: P1, roles: ['KMS CMKFullAccess'] }]);
    readerId = (await w.user('reader', [{ id: P1, roles: ['KMS CMKReadOnlyAccess'] }])).id;
    await w.user('other', [{ id: P2, roles: ['KMS Administrator'] }]);
    t.admin = await w.token('admin', 'admin-password', P1);
    t.reader = await w.token('reader', 'reader-password', P1);
    t.other = await w.token('other', 'other-password', P2);
    t.expired = await w.shortToken('admin', 'admin-password', P1);
    const k = await w.accessKey(admin.id);
    ak = { ak: k.access, sk: k.secret };
    keyId = (await w.kms(t.admin, 'create-key', { key_alias: 'target' })).json.key_info.key_id;
    rsaId = (await w.kms(t.admin, 'create-key', { key_alias: 'target-rsa', key_spec: 'RSA_2048' })).json.key_info.key_id;
    cipher = (await w.kms(t.admin, 'encrypt-data', { key_id: keyId, plain_text: 'x' })).json.cipher_text;
    dekCipher = (await w.kms(t.admin, 'create-datakey', { key_id: keyId })).json.cipher_text;
    await new Promise((r) => setTimeout(r, 1100));
  });
  afterAll(() => close?.());

  /** [method, verb, body, read-only allowed?] with bodies that are valid, so the refusal is about the caller. */
  const routes = (): [string, string, unknown, boolean][] => [
    ['POST', 'create-key', { key_alias: 'new-one' }, false],
    ['POST', 'describe-key', { key_id: keyId }, true],
    ['POST', 'list-keys', { key_spec: 'ALL' }, true],
    ['POST', 'update-key-alias', { key_id: keyId, key_alias: 'renamed' }, false],
    ['POST', 'update-key-description', { key_id: keyId, key_description: 'd' }, false],
    ['POST', 'disable-key', { key_id: keyId }, false],
    ['POST', 'enable-key', { key_id: keyId }, false],
    ['POST', 'schedule-key-deletion', { key_id: keyId, pending_days: '7' }, false],
    ['POST', 'cancel-key-deletion', { key_id: keyId }, false],
    ['POST', 'encrypt-data', { key_id: keyId, plain_text: 'x' }, false],
    ['POST', 'decrypt-data', { cipher_text: cipher }, false],
    ['POST', 'create-datakey', { key_id: keyId }, false],
    ['POST', 'create-datakey-without-plaintext', { key_id: keyId }, false],
    [
      'POST',
      'encrypt-datakey',
      {
        key_id: keyId,
        plain_text: '00'.repeat(32) + createHash('sha256').update(Buffer.alloc(32)).digest('hex'),
        datakey_plain_length: '32',
      },
      false,
    ],
    ['POST', 'decrypt-datakey', { key_id: keyId, cipher_text: dekCipher, datakey_cipher_length: '32' }, false],
    ['POST', 'gen-random', { random_data_length: '512' }, false],
    ['POST', 'sign', { key_id: rsaId, signing_algorithm: 'RSASSA_PSS_SHA_256', message_type: 'RAW', message: 'AAAA' }, false],
    [
      'POST',
      'verify',
      {
        key_id: rsaId,
        signing_algorithm: 'RSASSA_PSS_SHA_256',
        message_type: 'RAW',
        message: 'AAAA',
        signature: 'AAAA',
      },
      false,
    ],
    ['POST', 'get-publickey', { key_id: rsaId }, true],
    ['POST', 'enable-key-rotation', { key_id: keyId }, false],
    ['POST', 'get-key-rotation-status', { key_id: keyId }, true],
    ['POST', `${keyId}/tags`, { tag: { key: 'a', value: 'b' } }, false],
    ['GET', `${keyId}/tags`, undefined, true],
    ['GET', 'user-instances', undefined, true],
    ['POST', 'create-grant', { key_id: keyId, grantee_principal: readerId, operations: ['encrypt-data'] }, false],
    ['POST', 'list-grants', { key_id: keyId }, true],
    ['POST', 'list-retirable-grants', {}, true],
    ['POST', 'revoke-grant', { key_id: keyId, grant_id: 'a'.repeat(64) }, false],
    ['POST', 'aliases', { key_id: keyId, alias: 'alias/sec' }, false],
    ['GET', 'aliases', undefined, true],
    ['POST', 'alias/associate', { alias: 'alias/sec', target_key_id: keyId }, false],
  ];

  it('no credentials, a forged token and an expired token -> 401 APIGW.0301 on every route', async () => {
    for (const [method, verb, body] of routes()) {
      const none = await call(w.server.url, w.ca, method, `/v1.0/${P1}/kms/${verb}`, body);
      expectApigwError(none, 401, 'APIGW.0301');
      expect(none.json.error_msg).toMatch(/x-auth-token not found/);
      const [payload] = t.admin!.slice(3).split('.');
      expectApigwError(await w.kms(`MII${payload}.${Buffer.alloc(32).toString('base64url')}`, verb, body, P1, method), 401, 'APIGW.0301');
      const expired = await w.kms(t.expired!, verb, body, P1, method);
      expectApigwError(expired, 401, 'APIGW.0301');
      expect(expired.json.error_msg).toMatch(/token expires/);
    }
  });

  it('a bad AK/SK signature, an unknown AK and a stale or future X-Sdk-Date -> 401 APIGW.0301 on every route', async () => {
    for (const [method, verb, body, readOnly] of routes()) {
      const path = `/v1.0/${P1}/kms/${verb}`;
      // The same request, well signed, goes through (only where that changes nothing).
      if (readOnly) expect((await signed(w, ak, path, body, { method })).status, `${verb} control`).toBe(200);
      const bad = await signed(w, { ak: ak.ak, sk: 'wrong' }, path, body, { method });
      expectApigwError(bad, 401, 'APIGW.0301');
      expect(bad.json.error_msg).toContain('verify aksk signature fail, canonicalRequest:');
      expectApigwError(await signed(w, { ak: 'UNKNOWNAKUNKNOWNAK00', sk: ak.sk }, path, body, { method }), 401, 'APIGW.0301');
      expectApigwError(await signed(w, ak, path, body, { method, date: new Date(Date.now() - 16 * 60_000) }), 401, 'APIGW.0301');
      expectApigwError(await signed(w, ak, path, body, { method, date: new Date(Date.now() + 16 * 60_000) }), 401, 'APIGW.0301');
    }
    // The body is part of the signature.
    const path = `/v1.0/${P1}/kms/describe-key`;
    const good = await signed(w, ak, path, { key_id: keyId });
    expect(good.status).toBe(200);
  });

  it('a browser cross-site request -> 403 APIGW.0302 on every route that changes or uses a key, and on IAM token issue', async () => {
    const before = (await w.kms(t.admin!, 'describe-key', { key_id: keyId })).json.key_info;
    for (const [method, verb, body] of routes().filter(([m]) => m !== 'GET'))
      for (const h of [
        { origin: 'https://evil.example' },
        { 'sec-fetch-site': 'cross-site' },
        { origin: 'null', 'content-type': 'text/plain' },
      ] as Record<string, string>[]) {
        const r = await call(w.server.url, w.ca, method, `/v1.0/${P1}/kms/${verb}`, body, {
          'X-Auth-Token': t.admin!,
          ...h,
        });
        expectApigwError(r, 403, 'APIGW.0302');
        expect(r.json.error_msg, verb).toMatch(/cross-site/);
      }
    const login = {
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: 'admin', password: 'admin-password', domain: { name: 'acme' } } },
        },
        scope: { project: { id: P1 } },
      },
    };
    expectApigwError(
      await call(w.server.url, w.ca, 'POST', '/v3/auth/tokens', login, { origin: 'https://evil.example' }),
      403,
      'APIGW.0302',
    );
    expect((await w.kms(t.admin!, 'describe-key', { key_id: keyId })).json.key_info).toEqual(before);
    // A page of this origin, and clients that are not browsers, go through.
    const own = new URL(w.server.url).origin;
    expect(
      (
        await call(
          w.server.url,
          w.ca,
          'POST',
          `/v1.0/${P1}/kms/describe-key`,
          { key_id: keyId },
          { 'X-Auth-Token': t.admin!, origin: own, 'sec-fetch-site': 'same-origin' },
        )
      ).status,
    ).toBe(200);
    expect((await call(w.server.url, w.ca, 'POST', '/v3/auth/tokens', login)).status).toBe(201);
  });

  it('an unknown AK and a bad signature get the same answer, byte for byte apart from the request id', async () => {
    const path = `/v1.0/${P1}/kms/describe-key`;
    const date = new Date();
    const strip = (r: Reply) => {
      const { date: _d, 'x-request-id': id, ...headers } = r.headers;
      expect(r.json.request_id).toBe(id);
      return { status: r.status, headers, text: r.text.replace(String(id), '<id>') };
    };
    const badSig = strip(await signed(w, { ak: ak.ak, sk: 'wrong' }, path, { key_id: keyId }, { date }));
    const unknown = strip(await signed(w, { ak: 'UNKNOWNAKUNKNOWNAK00', sk: ak.sk }, path, { key_id: keyId }, { date }));
    expect(unknown).toEqual(badSig);
    expect(badSig.status).toBe(401);
    expect(badSig.text).toContain('verify aksk signature fail, canonicalRequest:POST|');
    expect(badSig.text).not.toMatch(/ak not exist|secretKey/);
  });

  it('AK/SK signs the method as sent: a HEAD signed as HEAD passes, a HEAD signed as GET does not', async () => {
    const path = `/v1.0/${P1}/kms/user-instances`;
    expect((await signed(w, ak, path, undefined, { method: 'GET' })).status).toBe(200);
    expect((await signed(w, ak, path, undefined, { method: 'HEAD' })).status).toBe(200);
    expect((await signed(w, ak, path, undefined, { method: 'HEAD', signAs: 'GET' })).status).toBe(401);
    expect((await signed(w, ak, path, undefined, { method: 'GET', signAs: 'HEAD' })).status).toBe(401);
  });

  it('a token of another project -> 403 KMS.0321; AK/SK naming another project -> 403', async () => {
    for (const [method, verb, body] of routes()) {
      expectKmsError(await w.kms(t.other!, verb, body, P1, method), 403, 'KMS.0321');
      expectKmsError(await signed(w, ak, `/v1.0/${P1}/kms/${verb}`, body, { method, projectHeader: P2 }), 403, 'KMS.0321');
      expectKmsError(await signed(w, ak, `/v1.0/${P2}/kms/${verb}`, body, { method, projectHeader: P2 }), 403, 'KMS.0306');
    }
  });

  it('a read-only role reads but cannot create, change or use keys -> 403 KMS.0306', async () => {
    for (const [method, verb, body, readOnly] of routes()) {
      const r = await w.kms(t.reader!, verb, body, P1, method);
      if (readOnly) expect(r.status, `${verb}: ${r.text}`).toBe(200);
      else expectKmsError(r, 403, 'KMS.0306');
    }
  });

  it("another project's key is not found (404 KMS.0207), and stays untouched", async () => {
    for (const [method, verb, body] of routes().filter(
      ([, v, b]) => v.includes(keyId) || JSON.stringify(b ?? {}).includes(keyId) || JSON.stringify(b ?? {}).includes(rsaId),
    )) {
      const path = verb.replace(keyId, keyId);
      expectKmsError(await w.kms(t.other!, path, body, P2, method), 404, 'KMS.0207');
    }
    expectKmsError(await w.kms(t.other!, 'decrypt-data', { cipher_text: cipher }, P2), 404, 'KMS.0207');
    expect((await w.kms(t.admin!, 'describe-key', { key_id: keyId })).json.key_info.key_alias).toBe('target');
  });

  it('bad bodies get a Huawei 4xx, never a 500: JSON, missing and mistyped fields, size, unknown routes', async () => {
    const raw = (body: string | Buffer, verb = 'create-key') =>
      call(w.server.url, w.ca, 'POST', `/v1.0/${P1}/kms/${verb}`, body, { 'X-Auth-Token': t.admin! });
    expectKmsError(await raw('{"key_alias":'), 400, 'KMS.0202');
    expectKmsError(await raw(''), 400, 'KMS.0202');
    expectKmsError(await raw('[]'), 400, 'KMS.0202');
    expectKmsError(await w.kms(t.admin!, 'create-key', {}), 400, 'KMS.0204');
    expectKmsError(await w.kms(t.admin!, 'create-key', { key_alias: 5 }), 400, 'KMS.1101');
    expectKmsError(await w.kms(t.admin!, 'create-key', { key_alias: 'bad alias!' }), 400, 'KMS.1101');
    expectKmsError(await w.kms(t.admin!, 'create-key', { key_alias: 'x', key_spec: 'AES_512' }), 400, 'KMS.0308');
    expectKmsError(await w.kms(t.admin!, 'create-key', { key_alias: 'x', key_spec: 'SM4' }), 400, 'KMS.0308');
    expectKmsError(
      await w.kms(t.admin!, 'create-key', { key_alias: 'x', key_spec: 'EC_P256', key_usage: 'ENCRYPT_DECRYPT' }),
      400,
      'KMS.1114',
    );
    expectKmsError(await w.kms(t.admin!, 'describe-key', { key_id: ['x'] }), 400, 'KMS.0205');
    expectKmsError(await w.kms(t.admin!, 'encrypt-data', { key_id: keyId, plain_text: { a: 1 } }), 400, 'KMS.2101');
    expectKmsError(await w.kms(t.admin!, 'schedule-key-deletion', { key_id: keyId, pending_days: true }), 400, 'KMS.1401');
    expectKmsError(
      await w.kms(t.admin!, 'sign', {
        key_id: rsaId,
        signing_algorithm: 'RSASSA_PSS_SHA_256',
        message: 'AAAA',
        message_type: 'HEX',
      }),
      400,
      'KMS.0308',
    );
    // Fields Huawei's models do not have are ignored, as OTC clients send them (realm, rotation_interval: 0).
    expect((await w.kms(t.admin!, 'describe-key', { key_id: keyId, realm: 'eu-de', rotation_interval: 0, extra: { x: 1 } })).status).toBe(
      200,
    );
    const big = await raw(Buffer.from(JSON.stringify({ key_alias: 'big', key_description: 'x'.repeat(40_000) })));
    expectApigwError(big, 413, 'APIGW.0201');
    expectApigwError(await w.kms(t.admin!, 'no-such-verb', {}), 404, 'APIGW.0101');
    expectApigwError(await call(w.server.url, w.ca, 'GET', '/v1.0/x/kms/create-key'), 401, 'APIGW.0301');
    expectApigwError(await call(w.server.url, w.ca, 'POST', '/v2/nothing', {}), 404, 'APIGW.0101');
    const bad = await call(w.server.url, w.ca, 'POST', '/v3/auth/tokens', {
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: 'admin', password: 'nope', domain: { name: 'acme' } } },
        },
        scope: { project: { id: P1 } },
      },
    });
    expect(bad.status).toBe(401);
    expect(bad.json).toEqual({
      error: { message: 'The username or password is wrong.', code: 401, title: 'Unauthorized' },
    });
    expect((await call(w.server.url, w.ca, 'POST', '/v3/auth/tokens', '{')).status).toBe(400);
  });

  it('deleting a user or an access key ends its tokens and signatures at once', async () => {
    const u = await w.user('leaver', [{ id: P1, roles: ['KMS Administrator'] }]);
    const tok = await w.token('leaver', 'leaver-password', P1);
    const key = await w.accessKey(u.id);
    expect((await w.kms(tok, 'list-keys', {})).status).toBe(200);
    expect((await signed(w, { ak: key.access, sk: key.secret }, `/v1.0/${P1}/kms/list-keys`, {})).status).toBe(200);
    expect((await w.admin('DELETE', `/admin/huawei/users/${u.id}/access-keys/${key.access}`)).status).toBe(204);
    expectApigwError(await signed(w, { ak: key.access, sk: key.secret }, `/v1.0/${P1}/kms/list-keys`, {}), 401, 'APIGW.0301');
    expect((await w.admin('PATCH', `/admin/huawei/users/${u.id}`, { enabled: false })).status).toBe(200);
    expectApigwError(await w.kms(tok, 'list-keys', {}), 401, 'APIGW.0301');
    expect((await w.admin('DELETE', `/admin/huawei/users/${u.id}`)).status).toBe(204);
    expectApigwError(await w.kms(tok, 'list-keys', {}), 401, 'APIGW.0301');
    expect((await w.admin('GET', `/admin/huawei/users/${u.id}`)).status).toBe(404);
    expect((await w.admin('GET', `/admin/huawei/users/${readerId}`)).json.projects).toEqual([
      { id: P1, name: P1, roles: ['KMS CMKReadOnlyAccess'] },
    ]);
  });

  it('the admin API validates and answers {message}', async () => {
    const dup = await w.admin('POST', '/admin/huawei/users', {
      domain: 'acme',
      name: 'admin',
      password: 'whatever-pw',
      projects: [{ id: P1, roles: ['KMS Administrator'] }],
    });
    expect(dup.status).toBe(409);
    expect(Object.keys(dup.json)).toEqual(['message']);
    const badRole = await w.admin('POST', '/admin/huawei/users', {
      domain: 'acme',
      name: 'x',
      password: 'whatever-pw',
      projects: [{ id: P1, roles: ['God'] }],
    });
    expect(badRole.status).toBe(400);
    expect(badRole.json.message).toMatch(/unknown role/);
    expect((await w.admin('POST', '/admin/huawei/users', { domain: 'acme', name: 'x', password: 'short', projects: [] })).status).toBe(400);
    expect((await w.admin('POST', '/admin/huawei/users', '{' as unknown)).status).toBe(400);
    expect((await w.admin('GET', '/admin/huawei/projects')).json.map((p: { id: string }) => p.id)).toEqual(
      expect.arrayContaining([P1, P2]),
    );
    expect((await w.admin('GET', '/admin/huawei/roles')).json.map((r: { name: string }) => r.name)).toContain('KMS CMKReadOnlyAccess');
    const users = (await w.admin('GET', '/admin/huawei/users')).json;
    expect(JSON.stringify(users)).not.toMatch(/password|scrypt/);
  });
  it('counts every authentication refusal, and audits them within a per-source bound: one event each up to it, one summary of the rest', async () => {
    await expectRefusalsBounded(kms, 'huawei', { atLeast: 60, since: started });
  });
});
