import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kms } from '@polykms/core';
import { backends, dbOf } from '@polykms/core/testing';
import { sdkKmsClient } from './client.ts';
import { P1, P2, expectKmsError, openWorld, type World } from './setup.ts';

/**
 * Grants (huawei-kms.md §2.7): a user whose role only reads (KMS CMKReadOnlyAccess) uses a key exactly
 * as far as a live grant allows, and is refused again once it is revoked or retired.
 */
describe.each(backends())('Huawei grants on %s', (backend) => {
  let kms: Kms;
  let w: World;
  let close: () => Promise<void>;
  const t: Record<string, string> = {};
  const id: Record<string, string> = {};
  let domainId: string;
  let adminAk: { access: string; secret: string };
  let bobAk: { access: string; secret: string };

  beforeAll(async () => {
    ({ kms, w, close } = await openWorld(backend));
    const mk = async (name: string, domain: string, projects: unknown) => {
      const u = await w.user(name, projects, domain);
      id[name] = u.id;
      return u;
    };
    domainId = (await mk('admin', 'acme', [{ id: P1, roles: ['KMS CMKFullAccess'] }])).domain.id;
    for (const n of ['bob', 'carol', 'dave']) await mk(n, 'acme', [{ id: P1, roles: ['KMS CMKReadOnlyAccess'] }]);
    await mk('erin', 'other', [{ id: P1, roles: ['KMS CMKReadOnlyAccess'] }]);
    await mk('stranger', 'acme', [{ id: P2, roles: ['KMS Administrator'] }]);
    for (const n of ['admin', 'bob', 'carol', 'dave']) t[n] = await w.token(n, `${n}-password`, P1);
    t.erin = await w.token('erin', 'erin-password', P1, 'other');
    t.stranger = await w.token('stranger', 'stranger-password', P2);
    adminAk = await w.accessKey(id.admin!);
    bobAk = await w.accessKey(id.bob!);
  });
  afterAll(() => close?.());

  const ok = async (who: string, verb: string, body: unknown) => {
    const r = await w.kms(t[who]!, verb, body);
    expect(r.status, `${who} ${verb}: ${r.text}`).toBe(200);
    return r.json;
  };
  const key = async (alias: string) => (await ok('admin', 'create-key', { key_alias: alias })).key_info.key_id as string;

  it('a grant lets its grantee do exactly the listed verbs; list-grants shows it; revoked, it is refused again', async () => {
    const k = await key('granted');
    expectKmsError(await w.kms(t.bob!, 'encrypt-data', { key_id: k, plain_text: 'x' }), 403, 'KMS.0306');
    const g = await ok('admin', 'create-grant', {
      key_id: k,
      grantee_principal: id.bob,
      operations: ['encrypt-data', 'decrypt-data', 'create-datakey'],
      name: 'app/one',
      retiring_principal: id.carol,
    });
    expect(Object.keys(g)).toEqual(['grant_id']);
    expect(g.grant_id).toMatch(/^[0-9a-f]{64}$/);

    const e = await ok('bob', 'encrypt-data', { key_id: k, plain_text: 'granted ✓' });
    expect((await ok('bob', 'decrypt-data', { cipher_text: e.cipher_text })).plain_text).toBe('granted ✓');
    // Above core's data-key size (random bytes sealed under the key) the grant decides too.
    expect((await ok('bob', 'create-datakey', { key_id: k, datakey_length: '8192' })).plain_text).toHaveLength(2048);
    for (const [verb, body] of [
      ['create-datakey-without-plaintext', { key_id: k }],
      [
        'encrypt-datakey',
        {
          key_id: k,
          plain_text: '00'.repeat(32) + createHash('sha256').update(Buffer.alloc(32)).digest('hex'),
          datakey_plain_length: '32',
        },
      ],
      ['disable-key', { key_id: k }],
      ['create-grant', { key_id: k, grantee_principal: id.bob, operations: ['encrypt-data'] }],
      ['revoke-grant', { key_id: k, grant_id: g.grant_id }],
    ] as const)
      expectKmsError(await w.kms(t.bob!, verb, body), 403, 'KMS.0306');
    // Another user of the account, another account, another project: the grant is not theirs.
    expectKmsError(await w.kms(t.dave!, 'encrypt-data', { key_id: k, plain_text: 'x' }), 403, 'KMS.0306');
    expectKmsError(await w.kms(t.erin!, 'encrypt-data', { key_id: k, plain_text: 'x' }), 403, 'KMS.0306');
    expectKmsError(await w.kms(t.stranger!, 'encrypt-data', { key_id: k, plain_text: 'x' }, P2), 404, 'KMS.0207');
    await kms.sealAudit();
    const ev = await dbOf(kms)
      .selectFrom('audit_events')
      .select(['details', 'principal'])
      .where('action', '=', 'key.encrypt')
      .where('outcome', '=', 'allowed')
      .where('principal', '=', `user:${id.bob}`)
      .executeTakeFirstOrThrow();
    expect(ev.details).toMatchObject({ grant: g.grant_id });

    const list = await ok('carol', 'list-grants', { key_id: k });
    expect(list).toMatchObject({ total: 1, truncated: 'false', next_marker: '' });
    const [row] = list.grants;
    expect(row).toEqual({
      key_id: k,
      grant_id: g.grant_id,
      grantee_principal: id.bob,
      grantee_principal_type: 'user',
      operations: ['encrypt-data', 'decrypt-data', 'create-datakey'],
      issuing_principal: id.admin,
      creation_date: expect.stringMatching(/^\d{13}$/),
      name: 'app/one',
      retiring_principal: id.carol,
    });

    expect(await ok('admin', 'revoke-grant', { key_id: k, grant_id: g.grant_id.toUpperCase() })).toEqual({});
    expectKmsError(await w.kms(t.bob!, 'decrypt-data', { cipher_text: e.cipher_text }), 403, 'KMS.0306');
    expectKmsError(await w.kms(t.admin!, 'revoke-grant', { key_id: k, grant_id: g.grant_id }), 400, 'KMS.2502');
    expect((await ok('admin', 'list-grants', { key_id: k })).total).toBe(0);
  });

  it('retire-grant: by the retiring principal or a grantee granted retire-grant; list-retirable-grants names them', async () => {
    const k = await key('retire');
    const g = (
      await ok('admin', 'create-grant', {
        key_id: k,
        grantee_principal: id.bob,
        operations: ['encrypt-data'],
        retiring_principal: id.carol,
      })
    ).grant_id;
    const retirable = await ok('carol', 'list-retirable-grants', { limit: '10' });
    expect(retirable.grants.map((x: { grant_id: string }) => x.grant_id)).toContain(g);
    expect(retirable.grants.every((x: { retiring_principal: string }) => x.retiring_principal === id.carol)).toBe(true);
    expect((await ok('dave', 'list-retirable-grants', {})).total).toBe(0);
    expectKmsError(await w.kms(t.bob!, 'retire-grant', { key_id: k, grant_id: g }), 403, 'KMS.0306');
    expectKmsError(await w.kms(t.dave!, 'retire-grant', { key_id: k, grant_id: g }), 403, 'KMS.0306');
    expect(await ok('carol', 'retire-grant', { key_id: k, grant_id: g })).toEqual({});
    expectKmsError(await w.kms(t.bob!, 'encrypt-data', { key_id: k, plain_text: 'x' }), 403, 'KMS.0306');

    const self = (
      await ok('admin', 'create-grant', {
        key_id: k,
        grantee_principal: id.bob,
        operations: ['encrypt-data', 'retire-grant'],
      })
    ).grant_id;
    expect((await ok('bob', 'encrypt-data', { key_id: k, plain_text: 'x' })).key_id).toBe(k);
    expect(await ok('bob', 'retire-grant', { key_id: k, grant_id: self })).toEqual({});
    expectKmsError(await w.kms(t.bob!, 'encrypt-data', { key_id: k, plain_text: 'x' }), 403, 'KMS.0306');
  });

  it('a domain grant covers the account; a grantee with create-grant passes on no more than it holds', async () => {
    const k = await key('domain');
    await ok('admin', 'create-grant', {
      key_id: k,
      grantee_principal: domainId,
      grantee_principal_type: 'domain',
      operations: ['encrypt-data', 'create-grant'],
    });
    expect((await ok('dave', 'encrypt-data', { key_id: k, plain_text: 'x' })).key_id).toBe(k);
    expectKmsError(await w.kms(t.erin!, 'encrypt-data', { key_id: k, plain_text: 'x' }), 403, 'KMS.0306');
    expectKmsError(
      await w.kms(t.dave!, 'create-grant', { key_id: k, grantee_principal: id.erin, operations: ['decrypt-data'] }),
      403,
      'KMS.0306',
    );
    await ok('dave', 'create-grant', { key_id: k, grantee_principal: id.erin, operations: ['encrypt-data'] });
    expect((await ok('erin', 'encrypt-data', { key_id: k, plain_text: 'x' })).key_id).toBe(k);
    const list = await ok('admin', 'list-grants', { key_id: k, limit: '1' });
    expect(list).toMatchObject({ total: 2, truncated: 'true', next_marker: '1' });
    expect(list.grants[0]).toMatchObject({
      grantee_principal: domainId,
      grantee_principal_type: 'domain',
      retiring_principal: '',
      name: '',
    });
    expect((await ok('admin', 'list-grants', { key_id: k, limit: '1', marker: '1' })).grants[0]).toMatchObject({
      grantee_principal: id.erin,
      issuing_principal: id.dave,
    });
  });

  it('refuses bad grants with Huawei codes, writing nothing', async () => {
    const k = await key('bad-grants');
    const bad: [unknown, number, string][] = [
      [{ key_id: k, grantee_principal: id.bob, operations: ['create-grant'] }, 400, 'KMS.2401'],
      [{ key_id: k, grantee_principal: id.bob, operations: ['sign'] }, 400, 'KMS.0308'],
      [{ key_id: k, grantee_principal: id.bob, operations: [] }, 400, 'KMS.0308'],
      [{ key_id: k, grantee_principal: 'not a user!', operations: ['encrypt-data'] }, 400, 'KMS.2402'],
      [{ key_id: k, grantee_principal: id.bob, operations: ['encrypt-data'], retiring_principal: '-' }, 400, 'KMS.2402'],
      [{ key_id: k, grantee_principal: id.bob, operations: ['encrypt-data'], grantee_principal_type: 'group' }, 400, 'KMS.0308'],
      [{ key_id: k, operations: ['encrypt-data'] }, 400, 'KMS.0204'],
      [{ key_id: 'nope', grantee_principal: id.bob, operations: ['encrypt-data'] }, 400, 'KMS.0205'],
      [{ key_id: '00000000-0000-4000-8000-000000000000', grantee_principal: id.bob, operations: ['encrypt-data'] }, 404, 'KMS.0207'],
    ];
    for (const [body, status, code] of bad) expectKmsError(await w.kms(t.admin!, 'create-grant', body), status, code);
    expectKmsError(await w.kms(t.admin!, 'revoke-grant', { key_id: k, grant_id: 'xyz' }), 400, 'KMS.2501');
    expectKmsError(await w.kms(t.admin!, 'retire-grant', { key_id: k, grant_id: 'f'.repeat(64) }), 400, 'KMS.2502');
    expectKmsError(await w.kms(t.admin!, 'list-grants', { key_id: k, limit: '0' }), 400, 'KMS.1601');
    expect((await ok('admin', 'list-grants', { key_id: k })).total).toBe(0);
    // Another project's key is not found; a key pending deletion takes no grant.
    expectKmsError(
      await w.kms(t.stranger!, 'create-grant', { key_id: k, grantee_principal: id.bob, operations: ['encrypt-data'] }, P2),
      404,
      'KMS.0207',
    );
    await ok('admin', 'schedule-key-deletion', { key_id: k, pending_days: '7' });
    expectKmsError(
      await w.kms(t.admin!, 'create-grant', { key_id: k, grantee_principal: id.bob, operations: ['encrypt-data'] }),
      400,
      'KMS.0210',
    );
    const full = await key('full');
    for (let i = 0; i < 100; i++)
      await ok('admin', 'create-grant', { key_id: full, grantee_principal: `u${i}`, operations: ['encrypt-data'] });
    expectKmsError(
      await w.kms(t.admin!, 'create-grant', { key_id: full, grantee_principal: 'u100', operations: ['encrypt-data'] }),
      400,
      'KMS.2404',
    );
  });

  it('runs with AK/SK requests signed and sent by the official Node SDK core', async () => {
    const base = `https://localhost:${w.server.port}`;
    const admin = sdkKmsClient(base, w.ca, { ak: adminAk.access, sk: adminAk.secret, projectId: P1 });
    const bob = sdkKmsClient(base, w.ca, { ak: bobAk.access, sk: bobAk.secret, projectId: P1 });
    const k = (await admin.post('create-key', { key_alias: 'sdk-grant' })).key_info.key_id;
    const refused = await bob.post('encrypt-data', { key_id: k, plain_text: 'x' }).then(
      () => undefined,
      (e: { httpStatusCode?: number }) => e,
    );
    expect(refused?.httpStatusCode).toBe(403);
    const g = await admin.post('create-grant', {
      key_id: k,
      grantee_principal: id.bob,
      operations: ['encrypt-data', 'decrypt-data'],
      grantee_principal_type: 'user',
    });
    expect(g.httpStatusCode).toBe(200);
    const e = await bob.post('encrypt-data', { key_id: k, plain_text: 'via sdk' });
    expect((await bob.post('decrypt-data', { cipher_text: e.cipher_text })).plain_text).toBe('via sdk');
    expect((await admin.post('list-grants', { key_id: k, limit: '10' })).grants.map((x: { grant_id: string }) => x.grant_id)).toEqual([
      g.grant_id,
    ]);
    expect((await admin.post('list-retirable-grants', { limit: '10' })).total).toBe(0);
    expect((await admin.post('revoke-grant', { key_id: k, grant_id: g.grant_id })).httpStatusCode).toBe(200);
    const again = await bob.post('decrypt-data', { cipher_text: e.cipher_text }).then(
      () => undefined,
      (err: { httpStatusCode?: number }) => err,
    );
    expect(again?.httpStatusCode).toBe(403);
  });
});
