import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestKms, refusalsAudited } from '@polykms/core/testing';
import type { Kms } from '@polykms/core';
import { createCa, gatewayCa, issueClientCertificate, loadCa } from '@polykms/pki';
import { ovhControlApp, startOvhServer, type OvhServer } from '../src/index.ts';
import { ACCESS_TOPIC } from '../src/identity.ts';
import { call, type Creds } from './client.ts';
import { validateResponse } from './openapi.ts';

/**
 * The common security cases, run against every route of the data plane at both path forms: no
 * certificate, a foreign CA, a revoked or expired credential -> 401; a credential of another domain ->
 * 404; an identity no policy allows -> 403. Every answer is OVH's error body, valid for the document.
 */
describe('every OVH route refuses who it should', () => {
  let kms: Kms;
  let drop: () => Promise<void>;
  let server: OvhServer;
  let caPem: string;
  let okmsId: string;
  let keyId: string;
  let ciphertext: string;
  let dataKey: string;
  const who: Record<string, Creds & { id?: string }> = {};
  const started = Date.now();

  beforeAll(async () => {
    ({ kms, drop } = await openTestKms('pglite'));
    const ca = await gatewayCa(kms);
    caPem = ca.certPem;
    server = await startOvhServer(kms, ca, { host: '127.0.0.1', port: 0 });
    const control = ovhControlApp(kms, async () => ca, { restEndpoint: server.url, swaggerEndpoint: server.url });
    const ctl = async (method: string, path: string, body?: unknown): Promise<any> => {
      const r = await control.request(path, { method, body: body === undefined ? undefined : JSON.stringify(body) });
      return r.status === 204 ? undefined : r.json();
    };
    const cred = async (domain: string, urn: string) => {
      const c = await ctl('POST', `/v2/okms/resource/${domain}/credential`, { name: 'n', identityURNs: [urn] });
      const g = await ctl('GET', `/v2/okms/resource/${domain}/credential/${c.id}`);
      return { id: c.id as string, cert: g.certificatePEM as string, key: c.privateKeyPEM as string, ca: caPem };
    };
    okmsId = (await ctl('POST', '/v2/okms/resource', { region: 'eu-west-rbx' })).id;
    const other = (await ctl('POST', '/v2/okms/resource', { region: 'eu-west-gra' })).id;
    who.root = await cred(okmsId, 'urn:v1:eu:identity:account:xx1111-ovh');
    who.stranger = await cred(other, 'urn:v1:eu:identity:account:yy2222-ovh');
    who.nobody = await cred(okmsId, 'urn:v1:eu:identity:user:xx1111-ovh/nobody');
    const revoked = await cred(okmsId, 'urn:v1:eu:identity:account:xx1111-ovh');
    await ctl('DELETE', `/v2/okms/resource/${okmsId}/credential/${revoked.id}`);
    who.revoked = revoked;
    const expired = await cred(okmsId, 'urn:v1:eu:identity:account:xx1111-ovh');
    await kms.db.updateTable('credentials').set({ expires_at: new Date(Date.now() - 1000) }).where('id', '=', expired.id).execute();
    await kms.publish(ACCESS_TOPIC);
    who.expired = expired;
    // A certificate whose own validity has ended, though its credential row says otherwise: the TLS
    // layer's verdict stands.
    const old = await issueClientCertificate(ca, { commonName: '00000000-0000-4000-8000-00000000e0e0', upn: `okms.domain:${okmsId}`, validityDays: 1, issuedAt: new Date(Date.now() - 10 * 86400_000) });
    const rootRow = await kms.db.selectFrom('credentials').selectAll().where('id', '=', who.root.id!).executeTakeFirstOrThrow();
    await kms.db
      .insertInto('credentials')
      .values({ ...rootRow, id: '00000000-0000-4000-8000-00000000e0e0', certificate_pem: old.certPem, serial: old.serialNumber, fingerprint: old.fingerprintSha256, attributes: JSON.stringify(rootRow.attributes) })
      .execute();
    who.tlsExpired = { cert: old.certPem, key: old.privateKeyPem!, ca: caPem };
    const foreignCa = await loadCa(await createCa({ commonName: 'polykms gateway CA', validityDays: 30 }));
    const f = await issueClientCertificate(foreignCa, { commonName: 'forged', upn: `okms.domain:${okmsId}`, validityDays: 29 });
    who.foreign = { cert: f.certPem, key: f.privateKeyPem!, ca: caPem };
    who.none = { ca: caPem };
    const k = await call(server.url, who.root!, 'POST', '/v1/servicekey', { name: 'target', type: 'oct', size: 256, operations: ['encrypt', 'decrypt'] });
    keyId = k.json.id;
    // Well-formed inputs, so the refusal under test is about the caller, not the body.
    ciphertext = (await call(server.url, who.root!, 'POST', `/v1/servicekey/${keyId}/encrypt`, { plaintext: 'AAAA' })).json.ciphertext;
    dataKey = (await call(server.url, who.root!, 'POST', `/v1/servicekey/${keyId}/datakey`, { size: 256 })).json.key;
  });
  afterAll(async () => {
    await server?.close();
    await kms?.close();
    await drop?.();
  });

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
  ];

  it.each(cases)('%s -> %i on every route, both path forms', async (name, status) => {
    let n = 0;
    for (const [method, path, body] of routes()) {
      for (const p of [path, `/api/${okmsId}${path}`]) {
        const r = await call(server.url, who[name]!, method, p, body);
        expect(r.status, `${name} ${method} ${p}: ${r.text}`).toBe(status);
        expect(Object.keys(r.json).sort()).toEqual(['error_code', 'error_id', 'errors', 'request_id']);
        if (name === 'tlsExpired') expect(r.json.errors[0]).toBe('the client certificate has expired');
        // The document lists no 401 on create; everything else must match it.
        if (!(status === 401 && method === 'POST' && path === '/v1/servicekey')) expect(validateResponse(method, p.split('?')[0]!, r.status, r.json).errors).toEqual([]);
        n++;
      }
    }
    expect(n).toBe(28);
  });

  it("another domain's credential finds nothing here", async () => {
    for (const [method, path, body] of routes().filter(([, p]) => p.includes(keyId))) {
      expect((await call(server.url, who.stranger!, method, path, body)).status, `${method} ${path}`).toBe(404);
      expect((await call(server.url, who.stranger!, method, `/api/${okmsId}${path}`, body)).status, `${method} /api/...${path}`).toBe(404);
    }
    // And the key is untouched.
    expect((await call(server.url, who.root!, 'GET', `/v1/servicekey/${keyId}`)).json.name).toBe('target');
  });
  it('counts every authentication refusal, and audits them within a per-source bound: one event each up to it, one summary of the rest', async () => {
    const r = await refusalsAudited(kms, 'ovh');
    expect(r.counted).toBeGreaterThanOrEqual(140);
    expect(r.each.length + r.summarized).toBe(r.counted);
    expect(r.summarized).toBeGreaterThan(0);
    // A burst of 20 a source, then 10 a minute.
    expect(r.each.length).toBeLessThanOrEqual(21 + Math.ceil((Date.now() - started) / 6000));
    expect(r.each.every((e) => e.outcome === 'denied' && /127\.0\.0\.1/.test(String((e.details as { source?: unknown }).source)) && typeof (e.details as { reason?: unknown }).reason === 'string')).toBe(true);
  });
});
