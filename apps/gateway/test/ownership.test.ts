/**
 * Keys the gateway keeps for its own use stay its own (issue 17, item 1): a CSE instance whose tenant
 * is linked to an OVH domain and a Huawei project shares its customer keys with them, never its
 * key-encryption key. Each dialect, and the admin API, is tried as an attacker holding a Workspace
 * wrapped key (which names the KEK) would try it: list, read, use, change, delete. Every try is the
 * dialect's own "no such key", and Workspace's wrapped keys still unwrap afterwards.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayCa } from '@polykms/pki';
import { backends, createTestDatabase, freePort } from '@polykms/core/testing';
import { configFromEnv } from '../src/config.ts';
import { startGateway, type Gateway } from '../src/gateway.ts';
import { call as ovhCall } from '../../ovh/test/client.ts';
import { toJwe } from '../../ovh/src/jwe.ts';
import { wrapCiphertext } from '../../huawei/src/envelope.ts';
import { baseConfig, call as httpsCall, testIssuers, type Issuers } from '../../cse/test/helpers.ts';
import { Agent, fetch as tlsFetch } from 'undici';

const uuidOf = (b: Buffer) => {
  const x = b.toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
};

describe.each(backends())('a CSE tenant linked to OVH and Huawei on %s', (backend) => {
  const dir = mkdtempSync(join(tmpdir(), 'polykms-own-'));
  let gw: Gateway;
  let drop = async () => {};
  let ca: string;
  let is: Issuers;
  let kaclsUrl: string;
  const auth = { authorization: '' };
  const admin = async (method: string, path: string, body?: unknown) => {
    // The admin port is HTTPS under the gateway's own CA.
    const r = await tlsFetch(`${gw.urls.admin}${path}`, {
      method,
      headers: { ...auth, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      dispatcher: new Agent({ connect: { ca } }),
    });
    const text = await r.text();
    return { status: r.status, json: text ? JSON.parse(text) : undefined, text };
  };

  beforeAll(async () => {
    const db = await createTestDatabase(backend);
    drop = db.drop;
    const csePort = await freePort();
    kaclsUrl = `https://localhost:${csePort}/v1`;
    is = await testIssuers(dir);
    writeFileSync(join(dir, 'cse.json'), JSON.stringify(baseConfig(kaclsUrl, is)));
    const env = {
      POLYKMS_DATA_DIR: join(dir, 'data'),
      POLYKMS_ADMIN_PORT: '0',
      POLYKMS_OVH_PORT: '0',
      POLYKMS_HUAWEI_PORT: '0',
      POLYKMS_CSE_PORT: String(csePort),
      POLYKMS_CSE_CONFIG: join(dir, 'cse.json'),
    };
    gw = await startGateway({ ...configFromEnv(env), databaseUrl: db.url }, pino({ level: 'silent' }));
    auth.authorization = `Bearer ${gw.adminToken.token}`;
    ca = (await gatewayCa(gw.kms)).certPem;
  }, 120_000);
  afterAll(async () => {
    await gw?.close();
    await drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('no other dialect lists, uses, changes or deletes the KEK; customer keys are shared; CSE keeps working', {
    timeout: 120_000,
  }, async () => {
    // Workspace wraps a DEK: the blob names the KEK (0x01 | KEK id | version | ...).
    const rn = '//googleapis.com/drive/files/f1';
    const dek = randomBytes(32);
    const cse = (path: string, body: unknown) => httpsCall(gw.urls.cse!, ca, 'POST', path, body);
    const authn = () => is.idp.mint({ email: 'ann@example.com' }, { aud: 'client-web' });
    const authz = (role: string) =>
      is.drive.mint(
        { email: 'ann@example.com', role, resource_name: rn, kacls_url: kaclsUrl, perimeter_id: '' },
        { aud: 'cse-authorization' },
      );
    const wrapped = await cse('/v1/wrap', {
      authentication: await authn(),
      authorization: await authz('writer'),
      key: dek.toString('base64'),
    });
    expect(wrapped.status, wrapped.text).toBe(200);
    const blob = Buffer.from(wrapped.json.wrapped_key, 'base64');
    const kekId = uuidOf(blob.subarray(1, 17));

    // Link the CSE instance's tenant with a fresh OVH domain and a Huawei project.
    const tenant = (await admin('GET', '/admin/tenants')).json.tenants.find((t: any) => t.bindings.some((b: any) => b.dialect === 'cse'));
    const domain = (await admin('POST', '/v2/okms/resource', { region: 'eu-west-rbx' })).json;
    const project = randomBytes(16).toString('hex');
    const password = `pw-${randomBytes(12).toString('hex')}`;
    expect(
      (
        await admin('POST', '/admin/huawei/users', {
          domain: 'acme',
          name: 'ann',
          password,
          projects: [{ id: project, roles: ['KMS Administrator'] }],
        })
      ).status,
    ).toBe(201);
    for (const [dialect, id] of [
      ['ovh', domain.id],
      ['huawei', project],
    ]) {
      const l = await admin('POST', `/admin/tenants/${tenant.id}/links`, { dialect, id });
      expect(l.status, l.text).toBe(200);
      expect(l.json.tenantId).toBe(tenant.id);
    }
    // The credential after the link: it is issued for the domain's tenant of the moment.
    const cred = (
      await admin('POST', `/v2/okms/resource/${domain.id}/credential`, {
        name: 'c',
        identityURNs: ['urn:v1:eu:identity:account:xx1111-ovh'],
      })
    ).json;
    const cert = (await admin('GET', `/v2/okms/resource/${domain.id}/credential/${cred.id}`)).json.certificatePEM;
    const ovh = (method: string, path: string, body?: unknown) =>
      ovhCall(gw.urls.ovh!, { cert, key: cred.privateKeyPEM, ca }, method, path, body);
    const token = await httpsCall(gw.urls.huawei!, ca, 'POST', '/v3/auth/tokens', {
      auth: {
        identity: { methods: ['password'], password: { user: { name: 'ann', password, domain: { name: 'acme' } } } },
        scope: { project: { id: project } },
      },
    });
    expect(token.status, token.text).toBe(201);
    const hw = (verb: string, body: unknown) =>
      httpsCall(gw.urls.huawei!, ca, 'POST', `/v1.0/${project}/kms/${verb}`, body, {
        'x-auth-token': token.headers['x-subject-token'] as string,
      });

    // Customer keys are the tenant's, through every vendor.
    const viaOvh = await ovh('POST', '/v1/servicekey', {
      name: 'customer',
      type: 'oct',
      size: 256,
      operations: ['encrypt', 'decrypt'],
    });
    expect(viaOvh.status, viaOvh.text).toBe(201);
    const viaHw = await hw('create-key', { key_alias: 'customer-hw' });
    expect(viaHw.status, viaHw.text).toBe(200);
    expect((await hw('describe-key', { key_id: viaOvh.json.id })).status).toBe(200);
    expect((await ovh('GET', `/v1/servicekey/${viaHw.json.key_info.key_id}`)).status).toBe(200);
    expect((await admin('GET', `/admin/tenants/${tenant.id}/keys/${viaOvh.json.id}`)).status).toBe(200);

    // OVH: the attack of the issue, and every other route, answer as for a key that does not exist.
    const ovhList = await ovh('GET', '/v1/servicekey');
    expect(ovhList.json.objects_list.map((k: any) => k.id).sort()).toEqual([viaOvh.json.id, viaHw.json.key_info.key_id].sort());
    const ovhTries: [string, string, unknown?][] = [
      ['GET', `/v1/servicekey/${kekId}`],
      [
        'POST',
        `/v1/servicekey/${kekId}/decrypt`,
        { ciphertext: toJwe(blob, kekId, 1, 256, 'ciphertext'), context: 'google-cse/wrapped-key/v1' },
      ],
      ['POST', `/v1/servicekey/${kekId}/encrypt`, { plaintext: dek.toString('base64') }],
      ['POST', `/v1/servicekey/${kekId}/datakey`, { size: 256 }],
      ['PATCH', `/v1/servicekey/${kekId}`, { name: 'mine' }],
      ['POST', `/v1/servicekey/${kekId}/deactivate`, { reason: 'unspecified' }],
      ['POST', `/v1/servicekey/${kekId}/activate`],
      ['DELETE', `/v1/servicekey/${kekId}`],
    ];
    for (const [method, path, body] of ovhTries) {
      const r = await ovh(method, path, body);
      expect(r.status, `${method} ${path}: ${r.text}`).toBe(404);
      expect(r.json.errors).toEqual(['key not found']);
    }

    // Huawei: the same, in Huawei's body (KMS.0207).
    const hwList = await hw('list-keys', {});
    expect(hwList.json.keys.sort()).toEqual([viaOvh.json.id, viaHw.json.key_info.key_id].sort());
    const hwTries: [string, Record<string, unknown>][] = [
      ['describe-key', { key_id: kekId }],
      ['encrypt-data', { key_id: kekId, plain_text: 'x' }],
      ['decrypt-data', { cipher_text: wrapCiphertext(blob, kekId).toString('base64') }],
      ['create-datakey', { key_id: kekId, datakey_length: '256' }],
      ['disable-key', { key_id: kekId }],
      ['enable-key', { key_id: kekId }],
      ['schedule-key-deletion', { key_id: kekId, pending_days: '7' }],
      ['cancel-key-deletion', { key_id: kekId }],
      ['update-key-alias', { key_id: kekId, key_alias: 'mine' }],
      ['update-key-description', { key_id: kekId, key_description: 'mine' }],
    ];
    for (const [verb, body] of hwTries) {
      const r = await hw(verb, body);
      expect(r.status, `${verb}: ${r.text}`).toBe(404);
      expect(r.json.error.error_code, verb).toBe('KMS.0207');
    }

    // The admin API: the tenant's keys are its customer keys.
    const adminList = await admin('GET', `/admin/tenants/${tenant.id}/keys`);
    expect(adminList.json.keys.map((k: any) => k.id).sort()).toEqual([viaOvh.json.id, viaHw.json.key_info.key_id].sort());
    const adminTries: [string, string, unknown?][] = [
      ['GET', ''],
      ['PATCH', '', { name: 'mine' }],
      ['POST', '/deactivate', {}],
      ['POST', '/activate', {}],
      ['POST', '/schedule-deletion', { pendingDays: 0 }],
      ['POST', '/cancel-deletion', {}],
      ['DELETE', ''],
    ];
    for (const [method, suffix, body] of adminTries) {
      const r = await admin(method, `/admin/tenants/${tenant.id}/keys/${kekId}${suffix}`, body);
      expect(r.status, `${method} ${suffix}: ${r.text}`).toBe(404);
      expect(r.json).toEqual({ message: 'key not found' });
    }

    // CSE: untouched, the wrapped key still unwraps.
    const kek = await gw.kms.getKey({ tenantId: tenant.id, dialect: 'cse', principal: 'test' }, kekId);
    expect([kek.state, kek.name, kek.owner, kek.currentVersion]).toEqual(['active', 'google-cse-kek', 'cse', 1]);
    const unwrapped = await cse('/v1/unwrap', {
      authentication: await authn(),
      authorization: await authz('reader'),
      wrapped_key: wrapped.json.wrapped_key,
    });
    expect(unwrapped.status, unwrapped.text).toBe(200);
    expect(unwrapped.json.key).toBe(dek.toString('base64'));
  });
});
