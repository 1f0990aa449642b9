/**
 * Two gateway processes on one PostgreSQL serve the same keys, and a change acknowledged by one is
 * enforced by the other on its very next request (no cache may answer with an older state).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, fetch as undiciFetch, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, freePort } from '@polykms/core/testing';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
describe.skipIf(!process.env.DATABASE_URL)('two gateway processes on one PostgreSQL', () => {
  const dir = mkdtempSync(join(tmpdir(), 'polykms-two-'));
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  const procs: { child: ReturnType<typeof spawn>; ports: Record<string, number>; logs: string }[] = [];
  const token = 'two-process-admin-token-0123456789';
  // The admin port is HTTPS under the gateway CA, which both processes write into their data directory.
  const adminFetch = (port: number, method: string, path: string, body?: unknown) =>
    undiciFetch(`https://127.0.0.1:${port}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}` },
      body: body === undefined ? undefined : JSON.stringify(body),
      dispatcher: new Agent({ connect: { ca: readFileSync(join(dir, 'ca.pem')) } }),
    });

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    for (let i = 0; i < 2; i++) {
      const ports = { admin: await freePort(), ovh: await freePort(), huawei: await freePort() };
      const env = {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? dir,
        DATABASE_URL: db.url!,
        POLYKMS_DATA_DIR: dir,
        POLYKMS_ROOT_KEY: Buffer.alloc(32, 7).toString('base64'),
        POLYKMS_ADMIN_TOKEN: token,
        POLYKMS_DIALECTS: 'ovh,huawei',
        POLYKMS_ADMIN_PORT: String(ports.admin),
        POLYKMS_OVH_PORT: String(ports.ovh),
        POLYKMS_HUAWEI_PORT: String(ports.huawei),
      };
      const child = spawn(process.execPath, ['apps/gateway/bin/polykms.mjs', 'serve'], {
        cwd: root,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const p = { child, ports, logs: '' };
      child.stdout!.on('data', (d) => (p.logs += d));
      child.stderr!.on('data', (d) => (p.logs += d));
      procs.push(p);
      let ready = false;
      for (let t = 0; t < 200 && !ready && child.exitCode === null; t++) {
        ready =
          existsSync(join(dir, 'ca.pem')) &&
          (await adminFetch(ports.admin, 'GET', '/readyz').then(
            (r) => r.ok,
            () => false,
          ));
        if (!ready) await new Promise((r) => setTimeout(r, 250));
      }
      if (!ready) throw new Error(`gateway ${i} did not start:\n${p.logs}`);
    }
  });
  afterAll(async () => {
    await Promise.all(
      procs.map((p) => new Promise((r) => (p.child.exitCode !== null ? r(null) : (p.child.once('exit', r), p.child.kill('SIGTERM'))))),
    );
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a key deactivated or disabled through one is refused by the other on its very next request', async () => {
    const [a, b] = procs as [(typeof procs)[0], (typeof procs)[0]];
    const admin = async (method: string, path: string, body?: unknown) =>
      (await adminFetch(a.ports.admin!, method, path, body)).json() as Promise<any>;
    const ca = (await admin('GET', '/admin/ca')).certificatePEM as string;
    const domain = await admin('POST', '/v2/okms/resource', { region: 'eu-west-rbx' });
    const cred = await admin('POST', `/v2/okms/resource/${domain.id}/credential`, {
      name: 'two',
      identityURNs: ['urn:v1:eu:identity:account:xx1111-ovh'],
    });
    const got = await admin('GET', `/v2/okms/resource/${domain.id}/credential/${cred.id}`);
    const ovh = new Agent({
      connect: { ca, cert: got.certificatePEM, key: cred.privateKeyPEM, servername: 'localhost' },
    });
    const tls = new Agent({ connect: { ca, servername: 'localhost' } });
    const post = async (dispatcher: Agent, url: string, body: unknown, headers: Record<string, string> = {}) => {
      const r = await request(url, {
        method: 'POST',
        dispatcher,
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });
      return { status: r.statusCode, headers: r.headers, json: JSON.parse((await r.body.text()) || 'null') };
    };
    const ovhA = `https://localhost:${a.ports.ovh}/api/${domain.id}/v1/servicekey`;
    const ovhB = `https://localhost:${b.ports.ovh}/api/${domain.id}/v1/servicekey`;
    const key = (await post(ovh, ovhA, { name: 'shared', type: 'oct', size: 256, operations: ['encrypt', 'decrypt'] })).json.id as string;
    const ct = (await post(ovh, `${ovhB}/${key}/encrypt`, { plaintext: 'AAAA' })).json.ciphertext;
    expect((await post(ovh, `${ovhA}/${key}/decrypt`, { ciphertext: ct })).json.plaintext).toBe('AAAA');
    for (let i = 0; i < 10; i++) {
      expect((await post(ovh, `${ovhA}/${key}/deactivate`, { reason: 'unspecified' })).status).toBeLessThan(300);
      const refused = await post(ovh, `${ovhB}/${key}/encrypt`, { plaintext: 'AAAA' });
      expect(refused.status, `round ${i}: ${JSON.stringify(refused.json)}`).toBe(400);
      expect((await post(ovh, `${ovhB}/${key}/activate`, {})).status).toBeLessThan(300);
      expect((await post(ovh, `${ovhA}/${key}/encrypt`, { plaintext: 'AAAA' })).status, `round ${i}`).toBe(200);
    }

    // The same through Huawei: disabled on A, refused on B at once.
    const project = 'c0ffee00c0ffee00c0ffee00c0ffee00';
    await admin('POST', '/admin/huawei/users', {
      domain: 'acme',
      name: 'bob',
      password: 'two-proc-password',
      projects: [{ id: project, roles: ['KMS Administrator'] }],
    });
    const tok = await post(tls, `https://localhost:${b.ports.huawei}/v3/auth/tokens`, {
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: 'bob', password: 'two-proc-password', domain: { name: 'acme' } } },
        },
        scope: { project: { id: project } },
      },
    });
    const h = { 'x-auth-token': tok.headers['x-subject-token'] as string };
    const hw = (g: typeof a, verb: string) => `https://localhost:${g.ports.huawei}/v1.0/${project}/kms/${verb}`;
    const hk = (await post(tls, hw(a, 'create-key'), { key_alias: 'shared-hw' }, h)).json.key_info.key_id;
    for (let i = 0; i < 5; i++) {
      expect((await post(tls, hw(a, 'disable-key'), { key_id: hk }, h)).status).toBe(200);
      const refused = await post(tls, hw(b, 'encrypt-data'), { key_id: hk, plain_text: 'x' }, h);
      expect(refused.status, JSON.stringify(refused.json)).toBe(400);
      expect(refused.json.error.error_code).toBe('KMS.0209');
      expect((await post(tls, hw(b, 'enable-key'), { key_id: hk }, h)).status).toBe(200);
      expect((await post(tls, hw(a, 'encrypt-data'), { key_id: hk, plain_text: 'x' }, h)).status).toBe(200);
    }
    await ovh.close();
    await tls.close();
  });
});
