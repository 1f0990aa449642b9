/**
 * Bearer tokens on the OVH listener: issued on the control plane, used without a client certificate,
 * judged by the same IAM policies as a certificate with the same identity URNs, refused (401, OVH's
 * body) when revoked, expired, malformed or absent, and never kept or shown again in clear.
 */
import { webcrypto } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dbOf, refusalsAudited } from '@polykms/core/testing';
import type { Kms } from '@polykms/core';
import type { OvhServer } from '../src/index.ts';
import { ACCESS_TOPIC, ovhDb } from '../src/store.ts';
import { call, type Creds, type Reply } from './client.ts';
import { validateResponse } from './openapi.ts';
import { openOvh, type OvhWorld } from './setup.ts';

const USER = 'urn:v1:eu:identity:user:xx1111-ovh/app';
/** OVH's packed code for an authentication refusal (REST/AuthProvider/Authentication/3). */
const UNAUTHENTICATED = 50475011;
const DOMAIN_NOT_FOUND = 16994305;

const ovhBody = (r: Reply) => expect(Object.keys(r.json ?? {}).sort(), r.text).toEqual(['error_code', 'error_id', 'errors', 'request_id']);

describe('OVH bearer tokens', () => {
  let kms: Kms;
  let server: OvhServer;
  let close: () => Promise<void>;
  let caPem: string;
  let okmsId: string;
  let other: string;
  let root: Creds;
  let ctl: OvhWorld['ctl'];
  let credential: OvhWorld['credential'];
  const cred = (domain: string, urn: string) => credential(domain, [urn], { name: 'n' });
  /** A token's credentials: the CA only (no certificate) and its Authorization header. */
  const bearer = (token: string) => ({ ca: caPem, headers: { authorization: `Bearer ${token}` } });
  const as = (who: Creds & { headers?: Record<string, string> }, method: string, path: string, body?: unknown) =>
    call(server.url, who, method, path, body, who.headers ?? {});
  const issue = async (domain: string, body: Record<string, unknown>) => {
    const r = await ctl('POST', `/admin/ovh/domains/${domain}/tokens`, { name: 'app', identityURNs: [USER], ...body });
    expect(r.status, r.text).toBe(201);
    return r.json as { id: string; token: string; expiresAt: string; status: string; identityURNs: string[] };
  };

  beforeAll(async () => {
    let ca: OvhWorld['ca'];
    ({ kms, server, ca, ctl, credential, close } = await openOvh('pglite'));
    caPem = ca.certPem;
    okmsId = (await ctl('POST', '/v2/okms/resource', { region: 'eu-west-rbx' })).json.id;
    other = (await ctl('POST', '/v2/okms/resource', { region: 'eu-west-gra' })).json.id;
    root = await cred(okmsId, 'urn:v1:eu:identity:account:xx1111-ovh');
  });
  afterAll(() => close?.(), 180_000);

  it('issues a token shown once: list and get never show it, and the store keeps only its SHA-256', async () => {
    const before = Date.now();
    const t = await issue(okmsId, { description: 'ci job' });
    expect(t.token).toMatch(/^polykms_ovh_[A-Za-z0-9_-]{43}$/);
    expect(t).toMatchObject({ status: 'ACTIVE', identityURNs: [USER], okmsId, name: 'app', description: 'ci job', revokedAt: null });
    // The default lifetime is 30 days.
    expect(Date.parse(t.expiresAt) - before).toBeGreaterThanOrEqual(30 * 86_400_000 - 1000);
    expect(Date.parse(t.expiresAt) - before).toBeLessThanOrEqual(30 * 86_400_000 + 60_000);
    const list = await ctl('GET', `/admin/ovh/domains/${okmsId}/tokens`);
    expect(list.json.map((x: { id: string }) => x.id)).toContain(t.id);
    const one = await ctl('GET', `/admin/ovh/domains/${okmsId}/tokens/${t.id}`);
    const { token: _, ...shown } = t;
    expect(one.json).toEqual(shown);
    const digest = Buffer.from(await webcrypto.subtle.digest('SHA-256', Buffer.from(t.token))).toString('hex');
    for (const text of [list.text, one.text]) {
      expect(text).not.toContain(t.token);
      expect(text).not.toContain(t.token.slice(12));
      expect(text).not.toContain(digest);
    }
    const row = await (await ovhDb(kms)).selectFrom('tokens').selectAll().where('id', '=', t.id).executeTakeFirstOrThrow();
    expect(row.token_sha256).toBe(digest);
    expect(JSON.stringify(row)).not.toContain(t.token.slice(12));
    // Nor anywhere else: not in the audit trail of its issue.
    const events = await dbOf(kms).selectFrom('audit_events').selectAll().where('action', '=', 'token.create').execute();
    expect(events.length).toBeGreaterThan(0);
    expect(JSON.stringify(events)).not.toContain(t.token.slice(12));
    expect(JSON.stringify(events)).not.toContain(digest);
    // A token of another domain is not found under this one.
    expect((await ctl('GET', `/admin/ovh/domains/${other}/tokens/${t.id}`)).status).toBe(404);
  }, 180_000);

  it('refuses bad issue requests with a 400 that names the field, and unknown domains or tokens with 404', async () => {
    const bad: [unknown, RegExp][] = [
      [{ name: 'x' }, /identityURNs/],
      [{ name: 'x', identityURNs: [] }, /identityURNs/],
      [{ name: 'x', identityURNs: ['urn:v1:eu:resource:okms:x'] }, /identity URN/],
      [{ name: '', identityURNs: [USER] }, /name/],
      [{ name: 'x', identityURNs: [USER], validity: 0 }, /validity/],
      [{ name: 'x', identityURNs: [USER], validity: 366 }, /validity/],
      [{ name: 'x', identityURNs: [USER], validity: 1.5 }, /validity/],
      [{ name: 'x', identityURNs: [USER], expiresAt: 'tomorrow' }, /expiresAt/],
      [{ name: 'x', identityURNs: [USER], expiresAt: new Date(Date.now() - 1000).toISOString() }, /future/],
      [{ name: 'x', identityURNs: [USER], expiresAt: new Date(Date.now() + 400 * 86_400_000).toISOString() }, /365 days/],
      [{ name: 'x', identityURNs: [USER], validity: 1, expiresAt: new Date(Date.now() + 3_600_000).toISOString() }, /not both/],
      [{ name: 'x', identityURNs: [USER], token: 'mine' }, /token/],
    ];
    for (const [body, message] of bad) {
      const r = await ctl('POST', `/admin/ovh/domains/${okmsId}/tokens`, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json.message, JSON.stringify(body)).toMatch(message);
    }
    expect((await ctl('POST', `/admin/ovh/domains/${okmsId}/tokens`, '{')).status).toBe(400);
    const unknown = '00000000-0000-4000-8000-000000000000';
    expect((await ctl('POST', `/admin/ovh/domains/${unknown}/tokens`, { name: 'x', identityURNs: [USER] })).status).toBe(404);
    expect((await ctl('GET', `/admin/ovh/domains/${unknown}/tokens`)).status).toBe(404);
    expect((await ctl('DELETE', `/admin/ovh/domains/${okmsId}/tokens/${unknown}`)).status).toBe(404);
    expect((await ctl('DELETE', `/admin/ovh/domains/${okmsId}/tokens/not-a-uuid`)).status).toBe(404);
    // An hour is a valid lifetime.
    const short = await issue(okmsId, { expiresAt: new Date(Date.now() + 3_600_000).toISOString() });
    expect(short.status).toBe('ACTIVE');
  }, 180_000);

  it('a token and a certificate with the same identity URNs get exactly the same answers under the same policy', async () => {
    const domain = (await ctl('POST', '/v2/okms/resource', { region: 'eu-west-sbg' })).json.id;
    const admin = await cred(domain, 'urn:v1:eu:identity:account:xx1111-ovh');
    const cert = await cred(domain, USER);
    const token = bearer((await issue(domain, {})).token);
    const key = (await as(admin, 'POST', `/api/${domain}/v1/servicekey`, { name: 'k', type: 'oct', size: 256 })).json.id;
    const signer = (
      await as(admin, 'POST', `/api/${domain}/v1/servicekey`, { name: 's', type: 'EC', curve: 'P-256', operations: ['sign', 'verify'] })
    ).json.id;
    const ct = (await as(admin, 'POST', `/api/${domain}/v1/servicekey/${key}/encrypt`, { plaintext: 'aGk=' })).json.ciphertext;
    const policy = async (allow: string[], deny: string[] = []) => {
      const r = await ctl('PUT', `/admin/ovh/domains/${domain}/policies/app`, {
        identities: [USER],
        resources: [{ urn: `urn:v1:eu:resource:okms:${domain}` }],
        permissions: { allow: allow.map((action) => ({ action })), except: [], deny: deny.map((action) => ({ action })) },
      });
      expect(r.status, r.text).toBe(200);
    };
    const requests: [string, string, unknown?][] = [
      ['POST', `/servicekey/${key}/encrypt`, { plaintext: 'aGk=' }],
      ['POST', `/servicekey/${key}/decrypt`, { ciphertext: ct }],
      ['POST', `/servicekey/${key}/datakey`, { size: 256 }],
      ['GET', `/servicekey/${key}`],
      ['GET', '/servicekey'],
      ['PATCH', `/servicekey/${key}`, { name: 'renamed' }],
      ['POST', `/servicekey/${signer}/sign`, { alg: 'ES256', message: 'aGk=' }],
      ['POST', '/servicekey', { name: 'new', type: 'oct', size: 128 }],
      ['GET', '/random?length=8'],
    ];
    const statuses = async (who: Creds) => {
      const out: number[] = [];
      for (const [method, path, body] of requests) {
        const r = await as(who, method, `/api/${domain}/v1${path}`, body);
        if (r.status >= 400) ovhBody(r);
        out.push(r.status);
      }
      return out;
    };
    // No policy names the identity: nothing is allowed, either way.
    const none = await statuses(cert);
    expect(none).toEqual(requests.map(() => 403));
    expect(await statuses(token)).toEqual(none);
    await policy(['okms:apikms:serviceKey/encrypt', 'okms:apikms:serviceKey/get']);
    const some = await statuses(cert);
    expect(some).toEqual([200, 403, 403, 200, 200, 403, 403, 403, 403]);
    expect(await statuses(token)).toEqual(some);
    await policy(['okms:apikms:*'], ['okms:apikms:serviceKey/decrypt', 'okms:apikms:serviceKey/create']);
    const most = await statuses(cert);
    expect(most).toEqual([200, 403, 201, 200, 200, 200, 200, 403, 200]);
    expect(await statuses(token)).toEqual(most);
    // The token's own results are real: it decrypts what it encrypted once decrypt is allowed.
    await policy(['okms:apikms:serviceKey/encrypt', 'okms:apikms:serviceKey/decrypt']);
    const mine = (await as(token, 'POST', `/api/${domain}/v1/servicekey/${key}/encrypt`, { plaintext: 'dG9rZW4=', context: 'c' })).json;
    const back = await as(token, 'POST', `/api/${domain}/v1/servicekey/${key}/decrypt`, { ciphertext: mine.ciphertext, context: 'c' });
    expect(back.json).toEqual({ plaintext: 'dG9rZW4=' });
    // The legacy path works too: the domain is the token's.
    expect((await as(token, 'POST', `/v1/servicekey/${key}/encrypt`, { plaintext: 'aGk=' })).status).toBe(200);
    // Audited as the token.
    await kms.audit.flush();
    const events = await dbOf(kms)
      .selectFrom('audit_events')
      .selectAll()
      .where('action', '=', 'key.decrypt')
      .where('key_id', '=', key)
      .execute();
    expect(events.map((e) => e.principal)).toEqual(expect.arrayContaining([expect.stringMatching(/^token:[0-9a-f-]{36}$/)]));
  }, 180_000);

  it("a token of another domain is refused on this domain's URL as another domain's certificate is (404)", async () => {
    const theirs = bearer((await issue(other, { identityURNs: ['urn:v1:eu:identity:account:yy2222-ovh'] })).token);
    const theirCert = await cred(other, 'urn:v1:eu:identity:account:yy2222-ovh');
    const key = (await as(root, 'POST', `/api/${okmsId}/v1/servicekey`, { name: 'mine', type: 'oct', size: 256 })).json.id;
    for (const who of [theirs, theirCert]) {
      const r = await as(who, 'POST', `/api/${okmsId}/v1/servicekey/${key}/encrypt`, { plaintext: 'aGk=' });
      expect(r.status, r.text).toBe(404);
      expect(r.json.error_code).toBe(DOMAIN_NOT_FOUND);
      expect(r.json.errors).toEqual([`domain ${okmsId} not found`]);
      // The legacy path is their own domain, where this key does not exist.
      expect((await as(who, 'POST', `/v1/servicekey/${key}/encrypt`, { plaintext: 'aGk=' })).status).toBe(404);
    }
    // On their own domain the token works.
    expect((await as(theirs, 'GET', `/api/${other}/v1/servicekey`)).status).toBe(200);
  }, 180_000);

  it('revoked and expired tokens are 401 at once, with OVH body, valid for the document', async () => {
    const t = await issue(okmsId, { identityURNs: ['urn:v1:eu:identity:account:xx1111-ovh'] });
    const who = bearer(t.token);
    const path = `/api/${okmsId}/v1/servicekey`;
    expect((await as(who, 'GET', path)).status).toBe(200); // now cached
    expect((await ctl('DELETE', `/admin/ovh/domains/${okmsId}/tokens/${t.id}`)).status).toBe(204);
    const revoked = await as(who, 'GET', path);
    expect(revoked.status).toBe(401);
    ovhBody(revoked);
    expect(revoked.json.error_code).toBe(UNAUTHENTICATED);
    expect(revoked.json.errors).toEqual(['the bearer token has been revoked']);
    expect(validateResponse('GET', path, 401, revoked.json).errors).toEqual([]);
    const shown = (await ctl('GET', `/admin/ovh/domains/${okmsId}/tokens/${t.id}`)).json;
    expect(shown.status).toBe('REVOKED');
    // Revoking again keeps the first revocation's time.
    expect((await ctl('DELETE', `/admin/ovh/domains/${okmsId}/tokens/${t.id}`)).status).toBe(204);
    expect((await ctl('GET', `/admin/ovh/domains/${okmsId}/tokens/${t.id}`)).json.revokedAt).toBe(shown.revokedAt);

    // Expiry without waiting: the stored expiry moved into the past, as time would.
    const e = await issue(okmsId, { identityURNs: ['urn:v1:eu:identity:account:xx1111-ovh'] });
    const late = bearer(e.token);
    expect((await as(late, 'GET', path)).status).toBe(200);
    await (await ovhDb(kms))
      .updateTable('tokens')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('id', '=', e.id)
      .execute();
    await kms.publish(ACCESS_TOPIC);
    const expired = await as(late, 'POST', `${path}`, { name: 'x', type: 'oct', size: 256 });
    expect(expired.status).toBe(401);
    ovhBody(expired);
    expect(expired.json.errors).toEqual(['the bearer token has expired']);
    expect((await ctl('GET', `/admin/ovh/domains/${okmsId}/tokens/${e.id}`)).json.status).toBe('EXPIRED');
    // Refusals of a known token name it in the audit trail.
    const r = await refusalsAudited(kms, 'ovh');
    const principals = r.each.map((x) => x.principal);
    expect(principals).toContain(`token:${t.id}`);
    expect(principals).toContain(`token:${e.id}`);
  }, 180_000);

  it('malformed, unknown, absent or doubled credentials are 401 in OVH body, and counted', async () => {
    const good = (await issue(okmsId, { identityURNs: ['urn:v1:eu:identity:account:xx1111-ovh'] })).token;
    const path = `/api/${okmsId}/v1/servicekey`;
    const counted = kms.authFailures.counts.ovh ?? 0;
    const cases: [Record<string, string>, RegExp][] = [
      [{ authorization: 'Bearer' }, /must be 'Bearer <token>'/],
      [{ authorization: 'Bearer ' }, /must be 'Bearer <token>'/],
      [{ authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }, /must be 'Bearer <token>'/],
      [{ authorization: good }, /must be 'Bearer <token>'/],
      [{ authorization: `Bearer ${good} extra` }, /must be 'Bearer <token>'/],
      [{ authorization: `Bearer ${good.slice(0, 20)}\u00e9${good.slice(21)}` }, /must be 'Bearer <token>'/],
      [{ authorization: `Bearer ${'A'.repeat(8000)}` }, /must be 'Bearer <token>'/],
      [{ authorization: `Bearer ${good.slice(0, -1)}${good.endsWith('A') ? 'B' : 'A'}` }, /not valid/],
      [{ authorization: 'Bearer eyJhbGciOiJIUzI1NiJ9.e30.ZRrHA1JJJW8opsbCGfG_HACGpVUMN_a9IV7pAx_Zmeo' }, /not valid/],
      [{}, /client certificate \(mTLS\) or an Authorization: Bearer token is required/],
    ];
    for (const [headers, message] of cases) {
      const r = await call(server.url, { ca: caPem }, 'GET', path, undefined, headers);
      expect(r.status, JSON.stringify(headers).slice(0, 80)).toBe(401);
      ovhBody(r);
      expect(r.json.error_code).toBe(UNAUTHENTICATED);
      expect(r.json.errors[0]).toMatch(message);
      expect(validateResponse('GET', path, 401, r.json).errors).toEqual([]);
      expect(r.text).not.toContain(good.slice(12));
    }
    // A certificate and a token at once: refused, whichever would have passed.
    const both = await call(server.url, root, 'GET', path, undefined, { authorization: `Bearer ${good}` });
    expect(both.status).toBe(401);
    expect(both.json.errors[0]).toMatch(/not both/);
    // The scheme is case-insensitive (RFC 7235); the token still has to be exact.
    expect((await call(server.url, { ca: caPem }, 'GET', path, undefined, { authorization: `bearer ${good}` })).status).toBe(200);
    expect((await call(server.url, { ca: caPem }, 'GET', path, undefined, { authorization: `Bearer ${good.toUpperCase()}` })).status).toBe(
      401,
    );
    expect((kms.authFailures.counts.ovh ?? 0) - counted).toBe(cases.length + 2);
  }, 180_000);
});
