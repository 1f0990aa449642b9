import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kms } from '@polykms/core';
import { backends, createTestDatabase, openTestKms, silentLogger, testKeyring } from '@polykms/core/testing';
import { createHuaweiApp, huaweiAdminApp, startHuaweiServer } from '../src/index.ts';
import { LoginBusy, LoginGuard, TokenBuckets, sourceOf } from '../src/throttle.ts';
import { gatewayCa } from '@polykms/pki';
import { call } from './client.ts';
import { P1, P2 } from './setup.ts';
import { huaweiDb } from '../src/store.ts';

type App = ReturnType<typeof createHuaweiApp>;

const loginBody = (name: string, password: string, project = P1) => ({
  auth: {
    identity: { methods: ['password'], password: { user: { name, password, domain: { name: 'acme' } } } },
    scope: { project: { id: project } },
  },
});
/** The Node listener's request as the app sees it: only the peer address matters here. */
const from = (ip: string) => ({ incoming: { headers: {}, socket: { remoteAddress: ip } } });

const login = (app: App, name: string, password: string, ip = '10.0.0.1', project = P1) =>
  app.request('/v3/auth/tokens?nocatalog=true', { method: 'POST', body: JSON.stringify(loginBody(name, password, project)) }, from(ip));
const tokenOf = async (app: App, name: string, password: string, project = P1) => {
  const r = await login(app, name, password, '10.9.9.9', project);
  expect(r.status, await r.clone().text()).toBe(201);
  return r.headers.get('x-subject-token')!;
};
const listKeys = (app: App, token: string, project = P1) =>
  app.request(`/v1.0/${project}/kms/list-keys`, { method: 'POST', body: '{}', headers: { 'X-Auth-Token': token } });
const tokens = (app: App, method: 'GET' | 'DELETE', caller: string | undefined, subject: string | undefined) =>
  app.request('/v3/auth/tokens', {
    method,
    headers: { ...(caller ? { 'X-Auth-Token': caller } : {}), ...(subject ? { 'X-Subject-Token': subject } : {}) },
  });

const admin = (kms: Kms) => {
  const a = huaweiAdminApp(kms);
  return async (method: string, path: string, body?: unknown) => {
    const r = await a.request(path, { method, body: body === undefined ? undefined : JSON.stringify(body) });
    expect(r.status, `${method} ${path}`).toBeLessThan(300);
    return r.status === 204 ? undefined : ((await r.json()) as any);
  };
};

/** An administrator of project P1 in domain acme, with the password `<name>-password`; its body. */
const addAdministrator = (adm: ReturnType<typeof admin>, name: string) =>
  adm('POST', '/admin/huawei/users', {
    domain: 'acme',
    name,
    password: `${name}-password`,
    projects: [{ id: P1, roles: ['KMS Administrator'] }],
  });

/** A refused token on a KMS route: the API gateway's 401 with its request id, nothing else. */
async function expectRefused(r: Response, why: RegExp = /the token has been revoked/) {
  expect(r.status).toBe(401);
  const j = (await r.json()) as Record<string, string>;
  expect(Object.keys(j).sort()).toEqual(['error_code', 'error_msg', 'request_id']);
  expect(j.error_code).toBe('APIGW.0301');
  expect(j.error_msg).toMatch(why);
  expect(j.request_id).toBe(r.headers.get('x-request-id'));
}

const keystone401 = {
  error: { message: 'The request you have made requires authentication.', code: 401, title: 'Unauthorized' },
};
const keystone404 = { error: { message: 'The token could not be found.', code: 404, title: 'Not Found' } };

describe.each(backends())('Huawei tokens end with their credentials, and can be revoked, on %s', (backend) => {
  let kms: Kms;
  let drop: () => Promise<void>;
  let app: App;
  let adm: ReturnType<typeof admin>;
  let alice: string;

  beforeAll(async () => {
    ({ kms, drop } = await openTestKms(backend));
    app = createHuaweiApp(kms);
    adm = admin(kms);
    alice = (await addAdministrator(adm, 'alice')).id;
    await addAdministrator(adm, 'bob');
  });
  afterAll(async () => {
    await kms?.close();
    await drop?.();
  });

  it('a password change ends the tokens issued before it; a token with the new password works', async () => {
    const old = await tokenOf(app, 'alice', 'alice-password');
    expect((await listKeys(app, old)).status).toBe(200);
    await adm('PATCH', `/admin/huawei/users/${alice}`, { password: 'alice-password-2' });
    await expectRefused(await listKeys(app, old));
    expect(await (await tokens(app, 'GET', old, old)).json()).toEqual(keystone401);
    expect((await login(app, 'alice', 'alice-password', '10.9.9.9')).status).toBe(401);
    const fresh = await tokenOf(app, 'alice', 'alice-password-2');
    expect((await listKeys(app, fresh)).status).toBe(200);
    expect((await tokens(app, 'GET', fresh, fresh)).status).toBe(200);
    expect((await tokens(app, 'GET', fresh, old)).status).toBe(404);
    // Changing only the projects keeps the tokens (roles are read at every use anyway).
    await adm('PATCH', `/admin/huawei/users/${alice}`, {
      projects: [
        { id: P1, roles: ['KMS Administrator'] },
        { id: P2, roles: ['KMS CMKReadOnlyAccess'] },
      ],
    });
    expect((await listKeys(app, fresh)).status).toBe(200);
  });

  it('disabling a user ends its tokens for good: re-enabling does not bring them back', async () => {
    const t = await tokenOf(app, 'alice', 'alice-password-2');
    await adm('PATCH', `/admin/huawei/users/${alice}`, { enabled: false });
    await expectRefused(await listKeys(app, t), /does not exist or is disabled/);
    await adm('PATCH', `/admin/huawei/users/${alice}`, { enabled: true });
    await expectRefused(await listKeys(app, t));
    expect((await listKeys(app, await tokenOf(app, 'alice', 'alice-password-2'))).status).toBe(200);
  });

  it("the operator ends every token of a user (POST /admin/huawei/users/{id}/revoke-tokens), and only that user's", async () => {
    const t1 = await tokenOf(app, 'alice', 'alice-password-2');
    const t2 = await tokenOf(app, 'alice', 'alice-password-2');
    const bob = await tokenOf(app, 'bob', 'bob-password');
    expect(await adm('POST', `/admin/huawei/users/${alice}/revoke-tokens`)).toBeUndefined();
    await expectRefused(await listKeys(app, t1));
    await expectRefused(await listKeys(app, t2));
    expect((await listKeys(app, bob)).status).toBe(200);
    expect((await listKeys(app, await tokenOf(app, 'alice', 'alice-password-2'))).status).toBe(200);
    const missing = await huaweiAdminApp(kms).request('/admin/huawei/users/nobody/revoke-tokens', { method: 'POST' });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ message: 'user nobody not found' });
  });

  it("DELETE /v3/auth/tokens revokes the subject token (204); it is then refused everywhere, and the caller's own is not", async () => {
    const a1 = await tokenOf(app, 'bob', 'bob-password');
    const a2 = await tokenOf(app, 'bob', 'bob-password');
    expect((await listKeys(app, a2)).status).toBe(200);
    expect((await tokens(app, 'GET', a1, a2)).status).toBe(200);
    const del = await tokens(app, 'DELETE', a1, a2);
    expect(del.status).toBe(204);
    expect(await del.text()).toBe('');
    await expectRefused(await listKeys(app, a2));
    expect(await (await tokens(app, 'GET', a1, a2)).json()).toEqual(keystone404);
    expect(await (await tokens(app, 'GET', a2, a1)).json()).toEqual(keystone401);
    expect(await (await tokens(app, 'DELETE', a1, a2)).json()).toEqual(keystone404);
    expect((await listKeys(app, a1)).status).toBe(200);
    // A token revokes itself.
    expect((await tokens(app, 'DELETE', a1, a1)).status).toBe(204);
    await expectRefused(await listKeys(app, a1));
    // The row is kept until the token would have expired.
    const rows = await (await huaweiDb(kms)).selectFrom('huawei_revoked_tokens').selectAll().execute();
    expect(rows.length).toBeGreaterThanOrEqual(2);
    for (const r of rows) expect(new Date(r.expires_at).getTime()).toBeGreaterThan(Date.now() + 86_000_000);
  });

  it("refuses a revocation without a live caller (401), of an unknown token (404), and of another user's token (403)", async () => {
    const bob = await tokenOf(app, 'bob', 'bob-password');
    const al = await tokenOf(app, 'alice', 'alice-password-2');
    expect(await (await tokens(app, 'DELETE', undefined, bob)).json()).toEqual(keystone401);
    expect(await (await tokens(app, 'DELETE', 'MIIgarbage.x', bob)).json()).toEqual(keystone401);
    expect(await (await tokens(app, 'DELETE', bob, 'MIIgarbage.x')).json()).toEqual(keystone404);
    expect(await (await tokens(app, 'DELETE', bob, undefined)).json()).toEqual(keystone404);
    const other = await tokens(app, 'DELETE', bob, al);
    expect(other.status).toBe(403);
    expect(await other.json()).toEqual({
      error: {
        message: 'You are not authorized to perform the requested action: revoke token.',
        code: 403,
        title: 'Forbidden',
      },
    });
    expect((await listKeys(app, al)).status).toBe(200);
    expect((await listKeys(app, bob)).status).toBe(200);
  });

  it('a revocation and a password change are seen by another process on the store and survive a restart', async () => {
    let second: { kms: Kms; close: () => Promise<void> };
    let dir: string | undefined;
    const keyring = testKeyring();
    const db = backend === 'postgres' ? await createTestDatabase('postgres') : undefined;
    const open = () =>
      db
        ? openTestKms('postgres', { url: db.url, keyring }).then((o) => o.kms)
        : Kms.open({ dataDir: dir!, keyring, logger: silentLogger() });
    if (!db) dir = mkdtempSync(join(tmpdir(), 'polykms-huawei-revoke-'));
    const a = await open();
    try {
      await addAdministrator(admin(a), 'carol');
      const appA = createHuaweiApp(a);
      const keep = await tokenOf(appA, 'carol', 'carol-password');
      const gone = await tokenOf(appA, 'carol', 'carol-password');
      if (db) {
        // Another process on the same Postgres, its caches warm with both tokens.
        const b = await open();
        second = { kms: b, close: () => b.close() };
        const appB = createHuaweiApp(b);
        expect((await listKeys(appB, gone)).status).toBe(200);
        expect((await listKeys(appB, keep)).status).toBe(200);
        expect((await tokens(appA, 'DELETE', keep, gone)).status).toBe(204);
        await until(async () => (await listKeys(appB, gone)).status === 401);
        await expectRefused(await listKeys(appB, gone));
        expect((await listKeys(appB, keep)).status).toBe(200);
        const carol = (await admin(a)('GET', '/admin/huawei/users?domain=acme')).find((u: { name: string }) => u.name === 'carol').id;
        await admin(a)('PATCH', `/admin/huawei/users/${carol}`, { password: 'carol-password-2' });
        await until(async () => (await listKeys(appB, keep)).status === 401);
        await second.close();
      } else {
        expect((await tokens(appA, 'DELETE', keep, gone)).status).toBe(204);
      }
      await a.close();
      // Restarted: nothing of the revocation is left in memory.
      const c = await open();
      try {
        const appC = createHuaweiApp(c);
        await expectRefused(await listKeys(appC, gone));
        if (!db) expect((await listKeys(appC, keep)).status).toBe(200);
        else await expectRefused(await listKeys(appC, keep));
      } finally {
        await c.close();
      }
    } finally {
      await a.close().catch(() => {});
      if (dir) rmSync(dir, { recursive: true, force: true });
      await db?.drop();
    }
  });
});

/** Polls a condition a notification makes true (another process's cache), with a generous bound. */
async function until(cond: () => Promise<boolean>, ms = 6_000) {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out waiting for the other process');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('password logins are throttled per user and per source, and hashing is bounded', () => {
  let kms: Kms;
  let drop: () => Promise<void>;
  let clock = 1_700_000_000_000;
  const guard = () =>
    new LoginGuard({
      now: () => clock,
      perUser: { burst: 3, everyMs: 60_000 },
      perSource: { burst: 5, everyMs: 10_000 },
    });

  beforeAll(async () => {
    ({ kms, drop } = await openTestKms('pglite'));
    const adm = admin(kms);
    await addAdministrator(adm, 'alice');
    await addAdministrator(adm, 'bob');
  });
  afterAll(async () => {
    await kms?.close();
    await drop?.();
  });

  /** The API gateway's throttling answer, exactly: flat body, request id, Retry-After. */
  async function expect429(r: Response, why: RegExp) {
    expect(r.status).toBe(429);
    const j = (await r.json()) as Record<string, string>;
    expect(Object.keys(j).sort()).toEqual(['error_code', 'error_msg', 'request_id']);
    expect(j.error_code).toBe('APIGW.0308');
    expect(j.error_msg).toMatch(/^The throttling threshold has been reached\. /);
    expect(j.error_msg).toMatch(why);
    expect(j.request_id).toBe(r.headers.get('x-request-id'));
    const after = Number(r.headers.get('retry-after'));
    expect(Number.isInteger(after) && after >= 1).toBe(true);
    expect(j.error_msg).toContain(`retry after ${after} second`);
    return after;
  }

  it('N bad logins for a user, then 429 even with the right password; another user from another source still logs in; later the right password works', async () => {
    const app = createHuaweiApp(kms, { logins: guard() });
    for (let i = 0; i < 3; i++) expect((await login(app, 'alice', `wrong-${i}`, '10.0.0.1')).status).toBe(401);
    const after = await expect429(await login(app, 'alice', 'alice-password', '10.0.0.1'), /too many failed logins for this user/i);
    // From another address too: the user's bucket is the user's.
    await expect429(await login(app, 'alice', 'alice-password', '10.0.0.7'), /for this user/i);
    expect((await login(app, 'bob', 'bob-password', '10.0.0.2')).status).toBe(201);
    // An unknown user is refused and throttled exactly like a known one (nothing tells them apart).
    for (let i = 0; i < 3; i++) expect((await login(app, 'ghost', `wrong-${i}`, '10.0.0.4')).status).toBe(401);
    await expect429(await login(app, 'ghost', 'whatever', '10.0.0.4'), /for this user/i);
    // Not forever: once Retry-After has passed, the right password works again.
    clock += after * 1000;
    expect((await login(app, 'alice', 'alice-password', '10.0.0.1')).status).toBe(201);
  });

  it('bad logins from one source for many names, then 429 for anyone from there; good logins cost no tries', async () => {
    const app = createHuaweiApp(kms, { logins: guard() });
    for (let i = 0; i < 10; i++) expect((await login(app, 'bob', 'bob-password', '10.0.0.3')).status).toBe(201);
    for (let i = 0; i < 5; i++) expect((await login(app, `user-${i}`, 'nope-nope', '10.0.0.3')).status).toBe(401);
    const after = await expect429(await login(app, 'bob', 'bob-password', '10.0.0.3'), /too many failed logins from this address/i);
    expect((await login(app, 'bob', 'bob-password', '10.0.0.5')).status).toBe(201);
    clock += after * 1000;
    expect((await login(app, 'bob', 'bob-password', '10.0.0.3')).status).toBe(201);
    // An IPv6 client is counted by its /64.
    for (let i = 0; i < 5; i++) expect((await login(app, `v6-${i}`, 'nope-nope', `2001:db8:1:2::${i + 1}`)).status).toBe(401);
    await expect429(await login(app, 'bob', 'bob-password', '2001:db8:1:2:ffff::9'), /from this address/i);
    expect((await login(app, 'bob', 'bob-password', '2001:db8:1:3::1')).status).toBe(201);
  });

  it('a login beyond the hashing slots and their queue is refused 429 at once, for known and unknown users alike, and costs no try', async () => {
    const g = new LoginGuard({ now: () => clock, hashing: 1, waiting: 0, perUser: { burst: 1, everyMs: 60_000 } });
    const app = createHuaweiApp(kms, { logins: g });
    let release!: () => void;
    const held = g.hash(() => new Promise<void>((r) => (release = r)));
    for (const name of ['alice', 'ghost']) {
      const r = await login(app, name, 'whatever', '10.0.1.1');
      expect(await expect429(r, /too many logins are being checked/i)).toBe(1);
    }
    release();
    await held;
    // The refused tries were given back: the one try per user is still there.
    expect((await login(app, 'alice', 'alice-password', '10.0.1.1')).status).toBe(201);
    expect((await login(app, 'ghost', 'whatever', '10.0.1.1')).status).toBe(401);
  });

  it('the hashing slots queue a few and refuse the rest', async () => {
    const g = new LoginGuard({ hashing: 2, waiting: 1 });
    const gates: (() => void)[] = [];
    const run = () => g.hash(() => new Promise<number>((r) => gates.push(() => r(gates.length))));
    const a = run();
    const b = run();
    const queued = run();
    await expect(run()).rejects.toBeInstanceOf(LoginBusy);
    await Promise.resolve();
    expect(gates.length).toBe(2);
    gates[0]!();
    await a;
    await new Promise((r) => setImmediate(r));
    expect(gates.length).toBe(3);
    gates[1]!();
    gates[2]!();
    await Promise.all([b, queued]);
    // All slots free again.
    const again = [run(), run()];
    await new Promise((r) => setImmediate(r));
    for (const go of gates.slice(3)) go();
    await Promise.all(again);
  });

  it('bucket state stays bounded: full buckets are dropped first', () => {
    const b = new TokenBuckets({ burst: 2, everyMs: 1000 }, 3);
    for (let i = 0; i < 3; i++) expect(b.take(`k${i}`, 0)).toBe(0);
    expect(b.take('k0', 0)).toBe(0);
    expect(b.take('k0', 0)).toBe(1000);
    // k1 and k2 refill by t=1000; a fourth key prunes them, k0 (still short) is kept.
    expect(b.take('k3', 1000)).toBe(0);
    expect(b.size).toBe(2);
    expect(b.take('k0', 1000)).toBe(0);
    expect(b.take('k0', 1000)).toBe(1000);
  });

  it('the source is the peer address of the connection (IPv4-mapped as IPv4, IPv6 by /64)', async () => {
    const c = (a: string | undefined) => ({ env: { incoming: { socket: { remoteAddress: a } } } }) as never;
    expect(sourceOf(c('192.0.2.1'))).toBe('192.0.2.1');
    expect(sourceOf(c('::ffff:192.0.2.1'))).toBe('192.0.2.1');
    expect(sourceOf(c('2001:db8:0:1::5'))).toBe('2001:db8:0:1::/64');
    expect(sourceOf(c('2001:0db8:0000:0001:aaaa:bbbb:cccc:dddd'))).toBe('2001:db8:0:1::/64');
    expect(sourceOf(c('::1'))).toBe('0:0:0:0::/64');
    expect(sourceOf(c(undefined))).toBe('unknown');
    // Through the real listener.
    const seen: string[] = [];
    class Spy extends LoginGuard {
      override admit(user: string, source: string) {
        seen.push(source);
        return super.admit(user, source);
      }
    }
    const ca = await gatewayCa(kms);
    const server = await startHuaweiServer(kms, ca, { host: '127.0.0.1', port: 0, logins: new Spy() });
    try {
      const r = await call(server.url, ca.certPem, 'POST', '/v3/auth/tokens', loginBody('bob', 'bob-password'));
      expect(r.status).toBe(201);
      expect(seen).toEqual(['127.0.0.1']);
    } finally {
      await server.close();
    }
  });
});
