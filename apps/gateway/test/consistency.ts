/**
 * What several serving processes must agree on: a change acknowledged through one is enforced by the
 * other on its very next request (no cache may answer with an older state). Used for two gateways on
 * one PostgreSQL (twoprocs.test.ts) and for two workers of one gateway (workers.test.ts).
 */
import { expect } from 'vitest';
import { Agent, fetch as undiciFetch, request } from 'undici';

export const adminFetch = (ca: Buffer, port: number, token: string, method: string, path: string, body?: unknown) =>
  undiciFetch(`https://127.0.0.1:${port}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}` },
    body: body === undefined ? undefined : JSON.stringify(body),
    dispatcher: new Agent({ connect: { ca } }),
  });

export type Post = (
  url: string,
  body: unknown,
  headers?: Record<string, string>,
) => Promise<{ status: number; headers: Record<string, unknown>; json: any }>;

/** A way into one serving process: its OVH and Huawei base URLs, and clients whose connections reach it. */
export interface Side {
  ovh: string;
  huawei: string;
  /** Over an mTLS connection with the OVH credential / over plain TLS, each to this process only. */
  ovhPost: Post;
  tlsPost: Post;
}

export const poster =
  (dispatcher: Agent): Post =>
  async (url, body, headers = {}) => {
    const r = await request(url, {
      method: 'POST',
      dispatcher,
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
    return { status: r.statusCode, headers: r.headers, json: JSON.parse((await r.body.text()) || 'null') };
  };

/** An OVH domain with one credential, and a Huawei user, through the admin API of `port`. */
export async function provision(admin: (method: string, path: string, body?: unknown) => Promise<any>) {
  const ca = (await admin('GET', '/admin/ca')).certificatePEM as string;
  const domain = await admin('POST', '/v2/okms/resource', { region: 'eu-west-rbx' });
  const cred = await admin('POST', `/v2/okms/resource/${domain.id}/credential`, {
    name: 'two',
    identityURNs: ['urn:v1:eu:identity:account:xx1111-ovh'],
  });
  const got = await admin('GET', `/v2/okms/resource/${domain.id}/credential/${cred.id}`);
  await admin('POST', '/admin/huawei/users', {
    domain: 'acme',
    name: 'bob',
    password: 'two-proc-password',
    projects: [{ id: PROJECT, roles: ['KMS Administrator'] }],
  });
  return {
    ca,
    okmsId: domain.id as string,
    ovhTls: { ca, cert: got.certificatePEM as string, key: cred.privateKeyPEM as string, servername: 'localhost' },
  };
}

export const PROJECT = 'c0ffee00c0ffee00c0ffee00c0ffee00';

export async function changesEnforcedAcross(a: Side, b: Side, okmsId: string) {
  const ovhA = `${a.ovh}/api/${okmsId}/v1/servicekey`;
  const ovhB = `${b.ovh}/api/${okmsId}/v1/servicekey`;
  const key = (await a.ovhPost(ovhA, { name: 'shared', type: 'oct', size: 256, operations: ['encrypt', 'decrypt'] })).json.id as string;
  const ct = (await b.ovhPost(`${ovhB}/${key}/encrypt`, { plaintext: 'AAAA' })).json.ciphertext;
  expect((await a.ovhPost(`${ovhA}/${key}/decrypt`, { ciphertext: ct })).json.plaintext).toBe('AAAA');
  for (let i = 0; i < 10; i++) {
    expect((await a.ovhPost(`${ovhA}/${key}/deactivate`, { reason: 'unspecified' })).status).toBeLessThan(300);
    const refused = await b.ovhPost(`${ovhB}/${key}/encrypt`, { plaintext: 'AAAA' });
    expect(refused.status, `round ${i}: ${JSON.stringify(refused.json)}`).toBe(400);
    expect((await b.ovhPost(`${ovhB}/${key}/activate`, {})).status).toBeLessThan(300);
    expect((await a.ovhPost(`${ovhA}/${key}/encrypt`, { plaintext: 'AAAA' })).status, `round ${i}`).toBe(200);
  }

  // The same through Huawei: disabled on A, refused on B at once.
  const tok = await b.tlsPost(`${b.huawei}/v3/auth/tokens`, {
    auth: {
      identity: {
        methods: ['password'],
        password: { user: { name: 'bob', password: 'two-proc-password', domain: { name: 'acme' } } },
      },
      scope: { project: { id: PROJECT } },
    },
  });
  const h = { 'x-auth-token': tok.headers['x-subject-token'] as string };
  const hw = (s: Side, verb: string) => `${s.huawei}/v1.0/${PROJECT}/kms/${verb}`;
  const hk = (await a.tlsPost(hw(a, 'create-key'), { key_alias: 'shared-hw' }, h)).json.key_info.key_id;
  for (let i = 0; i < 5; i++) {
    expect((await a.tlsPost(hw(a, 'disable-key'), { key_id: hk }, h)).status).toBe(200);
    const refused = await b.tlsPost(hw(b, 'encrypt-data'), { key_id: hk, plain_text: 'x' }, h);
    expect(refused.status, JSON.stringify(refused.json)).toBe(400);
    expect(refused.json.error.error_code).toBe('KMS.0209');
    expect((await b.tlsPost(hw(b, 'enable-key'), { key_id: hk }, h)).status).toBe(200);
    expect((await a.tlsPost(hw(a, 'encrypt-data'), { key_id: hk, plain_text: 'x' }, h)).status).toBe(200);
  }
}
