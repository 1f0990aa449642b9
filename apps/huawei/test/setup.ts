import { expect } from 'vitest';
import type { Kms } from '@polykms/core';
import { openTestKms, type Backend } from '@polykms/core/testing';
import { gatewayCa } from '@polykms/pki';
import { createHuaweiApp, huaweiAdminApp, startHuaweiServer, type HuaweiServer } from '../src/index.ts';
import { call, type Reply } from './client.ts';

export const P1 = '0123456789abcdef0123456789abcdef';
export const P2 = 'fedcba9876543210fedcba9876543210';

export interface World {
  server: HuaweiServer;
  ca: string;
  admin: (method: string, path: string, body?: unknown) => Promise<{ status: number; json: any }>;
  /** A token for (domain, user, password, project) through POST /v3/auth/tokens. */
  token: (name: string, password: string, project: string, domain?: string) => Promise<string>;
  /** POST /v1.0/{project}/kms/{verb} with X-Auth-Token. */
  kms: (token: string, verb: string, body?: unknown, project?: string, method?: string) => Promise<Reply>;
  /** A token that expires one second after it is issued (another replica with a short TTL, same store). */
  shortToken: (name: string, password: string, project: string) => Promise<string>;
  /** Creates user `name`, password `<name>-password`, in `domain` (acme) through the admin API; its body. */
  user: (name: string, projects: unknown, domain?: string) => Promise<any>;
  /** A new access key of the user, through the admin API. */
  accessKey: (userId: string) => Promise<{ access: string; secret: string }>;
}

export async function world(kms: Kms): Promise<World> {
  const ca = await gatewayCa(kms);
  const server = await startHuaweiServer(kms, ca, { host: '127.0.0.1', port: 0 });
  const adminApp = huaweiAdminApp(kms);
  const admin = async (method: string, path: string, body?: unknown) => {
    const r = await adminApp.request(path, { method, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: r.status, json: r.status === 204 ? undefined : await r.json() };
  };
  const authBody = (name: string, password: string, project: string, domain = 'acme') => ({
    auth: {
      identity: { methods: ['password'], password: { user: { name, password, domain: { name: domain } } } },
      scope: { project: { id: project } },
    },
  });
  const token = async (name: string, password: string, project: string, domain = 'acme') => {
    const r = await call(server.url, ca.certPem, 'POST', '/v3/auth/tokens?nocatalog=true', authBody(name, password, project, domain));
    expect(r.status, r.text).toBe(201);
    return r.headers['x-subject-token'] as string;
  };
  const short = createHuaweiApp(kms, { tokenTtlSeconds: 1 });
  const shortToken = async (name: string, password: string, project: string) => {
    const r = await short.request('/v3/auth/tokens', {
      method: 'POST',
      body: JSON.stringify(authBody(name, password, project)),
    });
    expect(r.status).toBe(201);
    return r.headers.get('x-subject-token')!;
  };
  const kmsCall = (t: string, verb: string, body: unknown = {}, project = P1, method = 'POST') =>
    call(server.url, ca.certPem, method, `/v1.0/${project}/kms/${verb}`, method === 'GET' || method === 'DELETE' ? undefined : body, {
      'X-Auth-Token': t,
    });
  const user = async (name: string, projects: unknown, domain = 'acme') => {
    const r = await admin('POST', '/admin/huawei/users', { domain, name, password: `${name}-password`, projects });
    expect(r.status, JSON.stringify(r.json)).toBe(201);
    return r.json;
  };
  const accessKey = async (userId: string) => {
    const r = await admin('POST', `/admin/huawei/users/${userId}/access-keys`, {});
    expect(r.status, JSON.stringify(r.json)).toBe(201);
    return r.json as { access: string; secret: string };
  };
  return { server, ca: ca.certPem, admin, token, kms: kmsCall, shortToken, user, accessKey };
}

/**
 * A store for one test file with the Huawei listener on it, from `beforeAll`; `close`, from
 * `afterAll`, stops the listener, closes the store and drops its database.
 */
export async function openWorld(backend: Backend, opts?: Parameters<typeof openTestKms>[1]) {
  const { kms, drop } = await openTestKms(backend, opts);
  let w: World | undefined;
  const close = async () => {
    await w?.server.close();
    await kms.close();
    await drop();
  };
  try {
    w = await world(kms);
    return { kms, w, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/**
 * openWorld with the users most KMS tests act as, and a token of each: `admin`, KMS Administrator of
 * P1 (eu-de); `reader`, read-only on P1; `other`, KMS Administrator of another project, P2. `ak` is an
 * access key of the admin's, for the SDK's AK/SK signing.
 */
export async function openWorldWithUsers(backend: Backend, opts?: Parameters<typeof openTestKms>[1]) {
  const opened = await openWorld(backend, opts);
  const { w } = opened;
  try {
    const admin = await w.user('admin', [{ id: P1, name: 'eu-de', roles: ['KMS Administrator'] }]);
    await w.user('reader', [{ id: P1, roles: ['KMS CMKReadOnlyAccess'] }]);
    await w.user('other', [{ id: P2, roles: ['KMS Administrator'] }]);
    const t = {
      admin: await w.token('admin', 'admin-password', P1),
      reader: await w.token('reader', 'reader-password', P1),
      other: await w.token('other', 'other-password', P2),
    };
    return { ...opened, t, ak: await w.accessKey(admin.id) };
  } catch (e) {
    await opened.close();
    throw e;
  }
}

/** Huawei's nested KMS error body, exactly. */
export function expectKmsError(r: Reply, status: number, code: string) {
  expect(r.status, r.text).toBe(status);
  expect(Object.keys(r.json)).toEqual(['error']);
  expect(Object.keys(r.json.error).sort()).toEqual(['error_code', 'error_msg']);
  expect(r.json.error.error_code, r.text).toBe(code);
  expect(typeof r.json.error.error_msg).toBe('string');
}

/** The API gateway's flat body, with the request id that the X-Request-Id header also carries. */
export function expectApigwError(r: Reply, status: number, code: string) {
  expect(r.status, r.text).toBe(status);
  expect(Object.keys(r.json).sort()).toEqual(['error_code', 'error_msg', 'request_id']);
  expect(r.json.error_code, r.text).toBe(code);
  expect(r.json.request_id).toBe(r.headers['x-request-id']);
}
