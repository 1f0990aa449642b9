import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '@polykms/core/testing';
import { opensslVerify } from '../../../packages/core/src/test-openssl.ts';
import { call } from './client.ts';
import { P1, P2, expectKmsError, openWorld, type World } from './setup.ts';

/** Aliases (huawei-kms.md §2.9): `alias/...` names, unique per project, usable as `key_id`. */
describe.each(backends())('Huawei aliases on %s', (backend) => {
  let w: World;
  let close: () => Promise<void>;
  const t: Record<string, string> = {};
  let domainId: string;
  let bobId: string;
  let ak: { access: string; secret: string };

  beforeAll(async () => {
    ({ w, close } = await openWorld(backend));
    const admin = await w.user('admin', [{ id: P1, name: 'eu-de', roles: ['KMS Administrator'] }]);
    domainId = admin.domain.id;
    bobId = (await w.user('bob', [{ id: P1, roles: ['KMS CMKReadOnlyAccess'] }])).id;
    await w.user('other', [{ id: P2, roles: ['KMS Administrator'] }]);
    t.admin = await w.token('admin', 'admin-password', P1);
    t.bob = await w.token('bob', 'bob-password', P1);
    t.other = await w.token('other', 'other-password', P2);
    ak = await w.accessKey(admin.id);
  });
  afterAll(() => close?.());

  const ok = async (who: string, verb: string, body: unknown, project = P1) => {
    const r = await w.kms(t[who]!, verb, body, project);
    expect(r.status, `${who} ${verb}: ${r.text}`).toBe(200);
    return r.json;
  };
  const key = async (alias: string, spec?: string) =>
    (await ok('admin', 'create-key', { key_alias: alias, ...(spec ? { key_spec: spec } : {}) })).key_info.key_id as string;
  /** GET /aliases and DELETE /aliases (with a JSON body) as raw HTTP clients send them. */
  const list = (who: string, query = '') =>
    call(w.server.url, w.ca, 'GET', `/v1.0/${P1}/kms/aliases${query}`, undefined, { 'X-Auth-Token': t[who]! });
  const del = (who: string, body: unknown) => {
    // Node's client sends a DELETE body neither chunked nor sized unless told its length (curl and axios do).
    const payload = JSON.stringify(body);
    return call(w.server.url, w.ca, 'DELETE', `/v1.0/${P1}/kms/aliases`, payload, {
      'X-Auth-Token': t[who]!,
      'content-length': String(Buffer.byteLength(payload)),
    });
  };

  it('creates aliases and uses them wherever Huawei takes a key id; the answers name the key', async () => {
    const a = await key('al-aes');
    const created = await ok('admin', 'aliases', { key_id: a, alias: 'alias/app' });
    expect(created).toEqual({
      domain_id: domainId,
      key_id: a,
      alias: 'alias/app',
      alias_urn: `kms:eu-de:${domainId}:alias:alias/app`,
      create_time: expect.stringMatching(/^\d{13}$/),
      update_time: created.create_time,
    });
    await ok('admin', 'aliases', { key_id: a, alias: 'alias/app-2' });
    expect((await ok('admin', 'describe-key', { key_id: 'alias/app' })).key_info.key_id).toBe(a);
    const e = await ok('admin', 'encrypt-data', { key_id: 'alias/app', plain_text: 'by alias' });
    expect(e.key_id).toBe(a);
    expect(await ok('admin', 'decrypt-data', { cipher_text: e.cipher_text, key_id: 'alias/app-2' })).toMatchObject({
      key_id: a,
      plain_text: 'by alias',
    });
    const dk = await ok('admin', 'create-datakey', { key_id: 'alias/app', datakey_length: '256' });
    expect(
      (
        await ok('admin', 'decrypt-datakey', {
          key_id: 'alias/app',
          cipher_text: dk.cipher_text,
          datakey_cipher_length: '32',
        })
      ).data_key,
    ).toBe(dk.plain_text);
    // A key's own alias of that form resolves too (OTC's "key_id may be alias/xxx").
    const own = await key('alias/own-rsa', 'RSA_2048');
    const pem = (await ok('admin', 'get-publickey', { key_id: 'alias/own-rsa' })).public_key;
    const digest = createHash('sha256').update('signed by alias').digest();
    const s = await ok('admin', 'sign', {
      key_id: 'alias/own-rsa',
      signing_algorithm: 'RSASSA_PKCS1_V1_5_SHA_256',
      message: digest.toString('base64'),
    });
    expect(s.key_id).toBe(own);
    expect(opensslVerify(pem, Buffer.from('signed by alias'), Buffer.from(s.signature, 'base64'), 'sha256').ok).toBe(true);
    // Unknown alias: the key does not exist; junk is still a bad key id.
    expectKmsError(await w.kms(t.admin!, 'encrypt-data', { key_id: 'alias/none', plain_text: 'x' }), 404, 'KMS.0207');
    expectKmsError(await w.kms(t.admin!, 'describe-key', { key_id: 'not-a-key' }), 400, 'KMS.0205');
    // Aliases do not take rights: a reader is refused the use, and a grant is what allows it.
    expectKmsError(await w.kms(t.bob!, 'encrypt-data', { key_id: 'alias/app', plain_text: 'x' }), 403, 'KMS.0306');
    await ok('admin', 'create-grant', { key_id: a, grantee_principal: bobId, operations: ['encrypt-data'] });
    expect((await ok('bob', 'encrypt-data', { key_id: 'alias/app', plain_text: 'x' })).key_id).toBe(a);
  });

  it('lists (by key, in pages), moves and deletes; unique per project, refused with Huawei codes', async () => {
    const a = await key('al-list-a');
    const b = await key('al-list-b');
    for (const n of ['alias/l1', 'alias/l2', 'alias/l3']) await ok('admin', 'aliases', { key_id: a, alias: n });
    expectKmsError(await w.kms(t.admin!, 'aliases', { key_id: b, alias: 'alias/l1' }), 400, 'KMS.1104');
    expectKmsError(await w.kms(t.admin!, 'aliases', { key_id: b, alias: 'no-prefix' }), 400, 'KMS.1101');
    expectKmsError(await w.kms(t.admin!, 'aliases', { key_id: b }), 400, 'KMS.0204');
    expectKmsError(await w.kms(t.bob!, 'aliases', { key_id: b, alias: 'alias/bob' }), 403, 'KMS.0306');

    const p1 = await list('admin', `?key_id=${a}&limit=2`);
    expect(p1.status, p1.text).toBe(200);
    expect(p1.json.aliases.map((x: { alias: string }) => x.alias)).toEqual(['alias/l1', 'alias/l2']);
    expect(p1.json.page_info).toEqual({ next_marker: 'alias/l2', current_count: 2 });
    const p2 = await list('bob', `?key_id=${a}&limit=2&marker=alias/l2`);
    expect(p2.json).toMatchObject({
      aliases: [{ alias: 'alias/l3', key_id: a }],
      page_info: { next_marker: '', current_count: 1 },
    });
    expectKmsError(await list('admin', '?limit=0'), 400, 'KMS.1601');
    expectKmsError(await list('admin', '?key_id=nope'), 400, 'KMS.0205');

    const moved = await ok('admin', 'alias/associate', { alias: 'alias/l3', target_key_id: b });
    expect(moved).toMatchObject({ alias: 'alias/l3', key_id: b });
    expect((await ok('admin', 'encrypt-data', { key_id: 'alias/l3', plain_text: 'x' })).key_id).toBe(b);
    expectKmsError(await w.kms(t.bob!, 'alias/associate', { alias: 'alias/l3', target_key_id: a }), 403, 'KMS.0306');
    expectKmsError(await w.kms(t.admin!, 'alias/associate', { alias: 'alias/none', target_key_id: a }), 404, 'KMS.0207');

    // Deleting is all or nothing: alias/l3 is b's now, so nothing of a's goes either.
    expectKmsError(await del('admin', { key_id: a, aliases: ['alias/l1', 'alias/l3'] }), 404, 'KMS.0207');
    expect((await list('admin', `?key_id=${a}`)).json.page_info.current_count).toBe(2);
    expectKmsError(await del('bob', { key_id: a, aliases: ['alias/l1'] }), 403, 'KMS.0306');
    const gone = await del('admin', { key_id: a, aliases: ['alias/l1', 'alias/l2'] });
    expect(gone.status, gone.text).toBe(200);
    expectKmsError(await w.kms(t.admin!, 'describe-key', { key_id: 'alias/l1' }), 404, 'KMS.0207');
    expect((await list('admin', `?key_id=${a}`)).json.aliases).toEqual([]);

    // Another project neither sees nor resolves them, and has the names free for its own keys.
    expectKmsError(await w.kms(t.other!, 'encrypt-data', { key_id: 'alias/l3', plain_text: 'x' }, P2), 404, 'KMS.0207');
    expectKmsError(await w.kms(t.other!, 'aliases', { key_id: a, alias: 'alias/mine' }, P2), 404, 'KMS.0207');
    const theirs = (await ok('other', 'create-key', { key_alias: 'theirs' }, P2)).key_info.key_id;
    expect((await ok('other', 'aliases', { key_id: theirs, alias: 'alias/l3' }, P2)).key_id).toBe(theirs);
    expect((await ok('admin', 'describe-key', { key_id: 'alias/l3' })).key_info.key_id).toBe(b);
  });

  it('runs with requests signed and sent by the official Node SDK core (POST, GET with a query, DELETE with a body)', async () => {
    const { sdkKmsClient } = await import('./client.ts');
    const sdk = sdkKmsClient(`https://localhost:${w.server.port}`, w.ca, {
      ak: ak.access,
      sk: ak.secret,
      projectId: P1,
    });
    const k = (await sdk.post('create-key', { key_alias: 'sdk-alias' })).key_info.key_id;
    const k2 = (await sdk.post('create-key', { key_alias: 'sdk-alias-2' })).key_info.key_id;
    expect((await sdk.send('POST', 'aliases', { key_id: k, alias: 'alias/sdk' })).key_id).toBe(k);
    const listed = await sdk.send('GET', 'aliases', undefined, { key_id: k, limit: '10' });
    expect(listed.aliases.map((x: { alias: string }) => x.alias)).toEqual(['alias/sdk']);
    expect((await sdk.post('encrypt-data', { key_id: 'alias/sdk', plain_text: 'sdk' })).key_id).toBe(k);
    expect((await sdk.post('alias/associate', { alias: 'alias/sdk', target_key_id: k2 })).key_id).toBe(k2);
    expect((await sdk.send('DELETE', 'aliases', { key_id: k2, aliases: ['alias/sdk'] })).httpStatusCode).toBe(200);
    const err = await sdk.post('describe-key', { key_id: 'alias/sdk' }).then(
      () => undefined,
      (e: { httpStatusCode?: number }) => e,
    );
    expect(err?.httpStatusCode).toBe(404);
  });
});
