/**
 * Two gateway processes (`polykms serve`) on one fresh PostgreSQL database, for the tests of what
 * several processes sharing a store must agree on (twoprocs.test.ts, rotation-twoprocs.test.ts).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, freePort, type TestDb } from '@polykms/core/testing';
import { adminFetch as sharedAdminFetch } from './consistency.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

export interface Gateway {
  child: ReturnType<typeof spawn>;
  /** `admin` and one port per dialect. */
  ports: Record<string, number>;
  /** Its stdout and stderr so far. */
  logs: string;
}

/**
 * Made in `describe`: `start` from `beforeAll` starts the two processes one after the other, each
 * ready (`/readyz`) before the next, with one data directory, root key and admin token; `stop` from
 * `afterAll` ends those started, drops the database and removes the directory. `config`: the
 * gateway's config.json.
 */
export function twoGateways(opts: { dialects: ('ovh' | 'huawei')[]; rootKey: Buffer; token: string; config?: object }) {
  let dir = '';
  const procs: Gateway[] = [];
  let db: TestDb | undefined;
  /** The gateway CA, which both processes write into their data directory. */
  const ca = () => readFileSync(join(dir, 'ca.pem'));
  // The admin port is HTTPS under the gateway CA.
  const adminFetch = (port: number, method: string, path: string, body?: unknown) =>
    sharedAdminFetch(ca(), port, opts.token, method, path, body);

  async function startOne(i: number, url: string) {
    const ports: Record<string, number> = { admin: await freePort() };
    for (const d of opts.dialects) ports[d] = await freePort();
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? dir,
      DATABASE_URL: url,
      POLYKMS_DATA_DIR: dir,
      POLYKMS_ROOT_KEY: opts.rootKey.toString('base64'),
      POLYKMS_ADMIN_TOKEN: opts.token,
      POLYKMS_DIALECTS: opts.dialects.join(','),
      POLYKMS_ADMIN_PORT: String(ports.admin),
    };
    for (const d of opts.dialects) env[`POLYKMS_${d.toUpperCase()}_PORT`] = String(ports[d]);
    if (opts.config) env.POLYKMS_CONFIG = join(dir, 'config.json');
    const child = spawn(process.execPath, ['apps/gateway/bin/polykms.mjs', 'serve'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const p: Gateway = { child, ports, logs: '' };
    child.stdout!.on('data', (d) => (p.logs += d));
    child.stderr!.on('data', (d) => (p.logs += d));
    procs.push(p);
    let ready = false;
    for (let t = 0; t < 240 && !ready && child.exitCode === null; t++) {
      ready =
        existsSync(join(dir, 'ca.pem')) &&
        (await adminFetch(ports.admin!, 'GET', '/readyz').then(
          (r) => r.ok,
          () => false,
        ));
      if (!ready) await new Promise((r) => setTimeout(r, 250));
    }
    if (!ready) throw new Error(`gateway ${i} did not start:\n${p.logs}`);
  }

  return {
    procs: procs as readonly Gateway[],
    adminFetch,
    ca,
    /** The database both processes serve from (once started). */
    url: () => db!.url!,
    async start() {
      dir = mkdtempSync(join(tmpdir(), 'polykms-two-'));
      db = await createTestDatabase('postgres');
      if (opts.config) writeFileSync(join(dir, 'config.json'), JSON.stringify(opts.config));
      for (let i = 0; i < 2; i++) await startOne(i, db.url!);
    },
    async stop() {
      await Promise.all(
        procs.map((p) => new Promise((r) => (p.child.exitCode !== null ? r(null) : (p.child.once('exit', r), p.child.kill('SIGTERM'))))),
      );
      await db?.drop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
