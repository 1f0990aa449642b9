/**
 * Two gateway processes on one PostgreSQL serve the same keys, and a change acknowledged by one is
 * enforced by the other on its very next request (no cache may answer with an older state).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent } from 'undici';
import { adminFetch as sharedAdminFetch, changesEnforcedAcross, poster, provision, type Side } from './consistency.ts';
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
    sharedAdminFetch(readFileSync(join(dir, 'ca.pem')), port, token, method, path, body);

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
    const { ca, okmsId, ovhTls } = await provision(admin);
    const ovh = new Agent({ connect: ovhTls });
    const tls = new Agent({ connect: { ca, servername: 'localhost' } });
    const side = (p: typeof a): Side => ({
      ovh: `https://localhost:${p.ports.ovh}`,
      huawei: `https://localhost:${p.ports.huawei}`,
      ovhPost: poster(ovh),
      tlsPost: poster(tls),
    });
    await changesEnforcedAcross(side(a), side(b), okmsId);
    await ovh.close();
    await tls.close();
  });
});
