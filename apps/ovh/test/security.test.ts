import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectRefusalsBounded } from '../../../packages/core/src/test-expect.ts';
import type { Kms } from '@polykms/core';
import { createCa, issueClientCertificate, loadCa } from '@polykms/pki';
import type { OvhServer } from '../src/index.ts';
import { ACCESS_TOPIC } from '../src/identity.ts';
import { call, type Creds } from './client.ts';
import { validateResponse } from './openapi.ts';
import { openOvh } from './setup.ts';
import { ovhDb } from '../src/store.ts';

/**
 * The common security cases, run against every route of the data plane at both path forms: no
 * certificate, a foreign CA, a revoked or expired credential or token, an unknown token -> 401; a
 * credential or token of another domain -> 404; an identity no policy allows -> 403. Every answer is OVH's error body, valid for the document.
 */
describe('every OVH route refuses who it should', () => {
  let kms: Kms;
  let server: OvhServer;
  let close: () => Promise<void>;
  let caPem: string;
  let okmsId: string;
  let keyId: string;
  let ciphertext: string;
  let dataKey: string;
  const who: Record<string, Creds & { id?: string; headers?: Record<string, string> }> = {};
  const started = Date.now();

  beforeAll(async () => {
    const ovh = await openOvh('pglite');
    ({ kms, server, close } = ovh);
    const ca = ovh.ca;
    caPem = ca.certPem;
    const ctl = async (method: string, path: string, body?: unknown) => (await ovh.ctl(method, path, body)).json;
    const cred = (domain: string, urn: string) => ovh.credential(domain, [urn], { name: 'n' });
    okmsId = (await ctl('POST', '/v2/okms/resource', { region: 'eu-west-rbx' })).id;
    const other = (await ctl('POST', '/v2/okms/resource', { region: 'eu-west-gra' })).id;
    who.root = await cred(okmsId, 'urn:v1:eu:identity:account:xx1111-ovh');
    who.stranger = await cred(other, 'urn:v1:eu:identity:account:yy2222-ovh');
    who.nobody = await cred(okmsId, 'urn:v1:eu:identity:user:xx1111-ovh/nobody');
    const revoked = await cred(okmsId, 'urn:v1:eu:identity:account:xx1111-ovh');
    await ctl('DELETE', `/v2/okms/resource/${okmsId}/credential/${revoked.id}`);
    who.revoked = revoked;
    const expired = await cred(okmsId, 'urn:v1:eu:identity:account:xx1111-ovh');
    await (await ovhDb(kms))
      .updateTable('credentials')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('id', '=', expired.id)
      .execute();
    await kms.publish(ACCESS_TOPIC);
    who.expired = expired;
    // A certificate whose own validity has ended, though its credential row says otherwise: the TLS
    // layer's verdict stands.
    const old = await issueClientCertificate(ca, {
      commonName: '00000000-0000-4000-8000-00000000e0e0',
      upn: `okms.domain:${okmsId}`,
      validityDays: 1,
      issuedAt: new Date(Date.now() - 10 * 86400_000),
    });
    const rootRow = await (await ovhDb(kms)).selectFrom('credentials').selectAll().where('id', '=', who.root.id!).executeTakeFirstOrThrow();
    await (await ovhDb(kms))
      .insertInto('credentials')
      .values({
        ...rootRow,
        id: '00000000-0000-4000-8000-00000000e0e0',
        certificate_pem: old.certPem,
        serial: old.serialNumber,
        fingerprint: old.fingerprintSha256,
        attributes: JSON.stringify(rootRow.attributes),
      })
      .execute();
    who.tlsExpired = { cert: old.certPem, key: old.privateKeyPem!, ca: caPem };
    const foreignCa = await loadCa(await createCa({ commonName: 'polykms gateway CA', validityDays: 30 }));
    const f = await issueClientCertificate(foreignCa, {
      commonName: 'forged',
      upn: `okms.domain:${okmsId}`,
      validityDays: 29,
    });
    who.foreign = { cert: f.certPem, key: f.privateKeyPem!, ca: caPem };
    who.none = { ca: caPem };
    // Bearer tokens, refused or limited exactly where certificates are.
    const token = async (domain: string, urn: string) => {
      const t = (await ctl('POST', `/admin/ovh/domains/${domain}/tokens`, { name: 't', identityURNs: [urn] })) as {
        id: string;
        token: string;
      };
      return { id: t.id, ca: caPem, headers: { authorization: `Bearer ${t.token}` } };
    };
    who.nobodyToken = await token(okmsId, 'urn:v1:eu:identity:user:xx1111-ovh/nobody');
    who.strangerToken = await token(other, 'urn:v1:eu:identity:account:yy2222-ovh');
    const revokedToken = await token(okmsId, 'urn:v1:eu:identity:account:xx1111-ovh');
    await ctl('DELETE', `/admin/ovh/domains/${okmsId}/tokens/${revokedToken.id}`);
    who.revokedToken = revokedToken;
    const expiredToken = await token(okmsId, 'urn:v1:eu:identity:account:xx1111-ovh');
    await (await ovhDb(kms))
      .updateTable('tokens')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('id', '=', expiredToken.id)
      .execute();
    who.expiredToken = expiredToken;
    who.forgedToken = { ca: caPem, headers: { authorization: `Bearer polykms_ovh_${'A'.repeat(43)}` } };
    const k = await call(server.url, who.root!, 'POST', '/v1/servicekey', {
      name: 'target',
      type: 'oct',
      size: 256,
      operations: ['encrypt', 'decrypt'],
    });
    keyId = k.json.id;
    // Well-formed inputs, so the refusal under test is about the caller, not the body.
    ciphertext = (await call(server.url, who.root!, 'POST', `/v1/servicekey/${keyId}/encrypt`, { plaintext: 'AAAA' })).json.ciphertext;
    dataKey = (await call(server.url, who.root!, 'POST', `/v1/servicekey/${keyId}/datakey`, { size: 256 })).json.key;
  });
  afterAll(() => close?.());

  const routes = (): [string, string, unknown][] => [
    ['POST', '/v1/servicekey', { name: 'x', type: 'oct', size: 256 }],
    ['GET', '/v1/servicekey', undefined],
    ['GET', `/v1/servicekey/${keyId}`, undefined],
    ['PATCH', `/v1/servicekey/${keyId}`, { name: 'y' }],
    ['DELETE', `/v1/servicekey/${keyId}`, undefined],
    ['POST', `/v1/servicekey/${keyId}/activate`, undefined],
    ['POST', `/v1/servicekey/${keyId}/deactivate`, { reason: 'unspecified' }],
    ['POST', `/v1/servicekey/${keyId}/encrypt`, { plaintext: 'AAAA' }],
    ['POST', `/v1/servicekey/${keyId}/decrypt`, { ciphertext }],
    ['POST', `/v1/servicekey/${keyId}/datakey`, { size: 256 }],
    ['POST', `/v1/servicekey/${keyId}/datakey/decrypt`, { key: dataKey }],
    ['POST', `/v1/servicekey/${keyId}/sign`, { alg: 'ES256', message: 'AAAA' }],
    ['POST', `/v1/servicekey/${keyId}/verify`, { alg: 'ES256', message: 'AAAA', signature: 'AAAA' }],
    ['GET', '/v1/random?length=8', undefined],
  ];

  const cases: [string, number][] = [
    ['none', 401],
    ['foreign', 401],
    ['revoked', 401],
    ['expired', 401],
    ['tlsExpired', 401],
    ['nobody', 403],
    ['revokedToken', 401],
    ['expiredToken', 401],
    ['forgedToken', 401],
    ['nobodyToken', 403],
  ];

  it.each(cases)('%s -> %i on every route, both path forms', async (name, status) => {
    let n = 0;
    for (const [method, path, body] of routes()) {
      for (const p of [path, `/api/${okmsId}${path}`]) {
        const r = await call(server.url, who[name]!, method, p, body, who[name]!.headers);
        expect(r.status, `${name} ${method} ${p}: ${r.text}`).toBe(status);
        expect(Object.keys(r.json).sort()).toEqual(['error_code', 'error_id', 'errors', 'request_id']);
        if (name === 'tlsExpired') expect(r.json.errors[0]).toBe('the client certificate has expired');
        // The document lists no 401 on create; everything else must match it.
        if (!(status === 401 && method === 'POST' && path === '/v1/servicekey'))
          expect(validateResponse(method, p.split('?')[0]!, r.status, r.json).errors).toEqual([]);
        n++;
      }
    }
    expect(n).toBe(28);
  });

  it("another domain's credential or token finds nothing here", async () => {
    for (const [method, path, body] of routes().filter(([, p]) => p.includes(keyId)))
      for (const s of [who.stranger!, who.strangerToken!]) {
        expect((await call(server.url, s, method, path, body, s.headers)).status, `${method} ${path}`).toBe(404);
        expect((await call(server.url, s, method, `/api/${okmsId}${path}`, body, s.headers)).status, `${method} /api/...${path}`).toBe(404);
      }
    // And the key is untouched.
    expect((await call(server.url, who.root!, 'GET', `/v1/servicekey/${keyId}`)).json.name).toBe('target');
  });

  // A browser that holds a credential (the Swagger UI's PKCS#12) sends it to whoever's page asks.
  it("refuses browser cross-site requests on every state-changing or crypto route, in OVH's body", async () => {
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    // The review's reproduction: a compromised key, re-activated by another site's empty form post.
    const k = (
      await call(server.url, who.root!, 'POST', '/v1/servicekey', {
        name: 'csrf',
        type: 'oct',
        size: 256,
        operations: ['encrypt', 'decrypt'],
      })
    ).json.id;
    expect((await call(server.url, who.root!, 'POST', `/v1/servicekey/${k}/deactivate`, { reason: 'key_compromise' })).status).toBe(204);
    const csrf = await call(server.url, who.root!, 'POST', `/v1/servicekey/${k}/activate`, '', {
      ...form,
      origin: 'https://evil.example',
    });
    expect(csrf.status, csrf.text).toBe(403);
    expect(Object.keys(csrf.json).sort()).toEqual(['error_code', 'error_id', 'errors', 'request_id']);
    expect(csrf.json.errors[0]).toMatch(/cross-site/);
    expect((await call(server.url, who.root!, 'GET', `/v1/servicekey/${k}`)).json.attributes.state).toBe('compromised');
    let n = 0;
    for (const [method, path, body] of routes().filter(([m]) => m !== 'GET'))
      for (const p of [path, `/api/${okmsId}${path}`])
        for (const h of [{ origin: 'https://evil.example' }, { 'sec-fetch-site': 'cross-site' }, { origin: 'null', ...form }] as Record<
          string,
          string
        >[]) {
          const r = await call(server.url, who.root!, method, p, body, h);
          expect(r.status, `${method} ${p} ${JSON.stringify(h)}: ${r.text}`).toBe(403);
          expect(Object.keys(r.json).sort()).toEqual(['error_code', 'error_id', 'errors', 'request_id']);
          n++;
        }
    expect(n).toBe(66);
    expect((await call(server.url, who.root!, 'GET', `/v1/servicekey/${keyId}`)).json.name).toBe('target');
    // The Swagger UI on this port is same-origin; a client that is not a browser sends no Origin.
    const own = new URL(server.url).origin;
    expect(
      (
        await call(server.url, who.root!, 'POST', `/v1/servicekey/${k}/activate`, '', {
          ...form,
          origin: own,
          'sec-fetch-site': 'same-origin',
        })
      ).status,
    ).toBe(204);
    expect((await call(server.url, who.root!, 'POST', `/v1/servicekey/${k}/deactivate`, { reason: 'unspecified' })).status).toBe(204);
    expect((await call(server.url, who.root!, 'POST', `/v1/servicekey/${k}/activate`, '', form)).status).toBe(204);
  });

  it("another domain's key id is as free as an unused one: both keys work apart; the same domain gets 409", async () => {
    const create = (creds: Creds, id: string, name: string) =>
      call(server.url, creds, 'POST', '/v1/servicekey', {
        id,
        name,
        type: 'oct',
        size: 256,
        operations: ['encrypt', 'decrypt'],
      });
    const theirs = await create(who.stranger!, keyId, 'same id, other domain');
    expect(theirs.status, theirs.text).toBe(201);
    expect(theirs.json.id).toBe(keyId);
    expect(validateResponse('POST', '/v1/servicekey', 201, theirs.json).errors).toEqual([]);
    const fresh = await create(who.stranger!, '5b0c7c52-4a0e-4d8e-9c61-2f3e4d5a6b7c', 'fresh id');
    expect(fresh.status).toBe(201);
    // Each domain's key is its own: same id, different material.
    for (const [mine, other] of [
      [who.root!, who.stranger!],
      [who.stranger!, who.root!],
    ] as const) {
      const ct = (await call(server.url, mine, 'POST', `/v1/servicekey/${keyId}/encrypt`, { plaintext: 'aGVsbG8=' })).json.ciphertext;
      expect((await call(server.url, mine, 'POST', `/v1/servicekey/${keyId}/decrypt`, { ciphertext: ct })).json).toEqual({
        plaintext: 'aGVsbG8=',
      });
      const across = await call(server.url, other, 'POST', `/v1/servicekey/${keyId}/decrypt`, { ciphertext: ct });
      expect(across.status, across.text).toBe(400);
    }
    expect((await call(server.url, who.root!, 'GET', `/v1/servicekey/${keyId}`)).json.name).toBe('target');
    expect((await call(server.url, who.stranger!, 'GET', `/v1/servicekey/${keyId}`)).json.name).toBe('same id, other domain');
    // Within one domain an id is taken once: 409, as API 2.16 documents, in OVH's body.
    const dup = await create(who.stranger!, keyId, 'again');
    expect(dup.status, dup.text).toBe(409);
    expect(Object.keys(dup.json).sort()).toEqual(['error_code', 'error_id', 'errors', 'request_id']);
    expect(dup.json.error_code).toBe(50438145);
    expect(dup.json.errors).toEqual(['a key with this id already exists']);
  });

  it('counts every authentication refusal, and audits them within a per-source bound: one event each up to it, one summary of the rest', async () => {
    await expectRefusalsBounded(kms, 'ovh', { atLeast: 224, since: started });
  });
});
