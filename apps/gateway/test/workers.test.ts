/**
 * `polykms serve --workers 2` on the embedded database: both workers serve the same keys through the
 * primary's PGlite, and a change acknowledged by one worker is enforced by the other on its very next
 * request; a worker killed right after answering leaves every answered operation in the audit trail.
 * Which worker served a request is read from its log line (by X-Request-Id), so the test proves it
 * talked to both.
 */
import { spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@polykms/core/testing';
import { adminFetch, changesEnforcedAcross, poster, provision, type Post, type Side } from './consistency.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

describe('two workers of one gateway on embedded PGlite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'polykms-workers-'));
  const token = 'workers-admin-token-0123456789';
  const ports = { admin: 0, ovh: 0, huawei: 0 };
  let child: ReturnType<typeof spawn>;
  let logs = '';
  const admin = async (method: string, path: string, body?: unknown) =>
    (await adminFetch(readFileSync(join(dir, 'ca.pem')), ports.admin, token, method, path, body)).json() as Promise<any>;

  beforeAll(async () => {
    Object.assign(ports, { admin: await freePort(), ovh: await freePort(), huawei: await freePort() });
    const { DATABASE_URL: _db, ...inherited } = process.env;
    child = spawn(process.execPath, ['apps/gateway/bin/polykms.mjs', 'serve', '--workers', '2'], {
      cwd: root,
      env: {
        ...inherited,
        POLYKMS_DATA_DIR: dir,
        POLYKMS_ADMIN_TOKEN: token,
        POLYKMS_DIALECTS: 'ovh,huawei',
        POLYKMS_ADMIN_PORT: String(ports.admin),
        POLYKMS_OVH_PORT: String(ports.ovh),
        POLYKMS_HUAWEI_PORT: String(ports.huawei),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d) => (logs += d));
    child.stderr!.on('data', (d) => (logs += d));
    // The primary says where the gateway listens once both workers do.
    for (let t = 0; t < 480 && child.exitCode === null; t++) {
      if (existsSync(join(dir, 'ca.pem')) && logs.includes('polykms listening')) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    if (!logs.includes('polykms listening')) throw new Error(`the workers did not start:\n${logs}`);
  }, 180_000);

  afterAll(async () => {
    if (child && child.exitCode === null) await new Promise((r) => (child.once('exit', r), child.kill('SIGTERM')));
    rmSync(dir, { recursive: true, force: true });
  });

  /** The log line of the worker that served this request id (its `worker` and `pid`). */
  const servedBy = async (reqId: string): Promise<{ worker: number; pid: number }> => {
    for (let t = 0; t < 40; t++) {
      const line = logs.split('\n').find((l) => l.includes(`"reqId":"${reqId}"`) && l.includes('"worker"'));
      if (line) return JSON.parse(line);
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no log line for request ${reqId}`);
  };
  const workerOf = async (reqId: string) => (await servedBy(reqId)).worker;

  /** A client whose one connection is served by `worker`: new connections until one is. */
  async function pinnedTo(worker: number, connect: object, probe: (post: Post) => ReturnType<Post>) {
    for (let attempt = 0; attempt < 20; attempt++) {
      // Kept open however slow the steps between its requests on a busy machine: a new connection may reach the other worker.
      const agent = new Agent({ connect, connections: 1, keepAliveTimeout: 600_000, keepAliveMaxTimeout: 600_000 });
      const post = poster(agent);
      const r = await probe(post);
      if ((await workerOf(String(r.headers['x-request-id']))) === worker) {
        // Every later request must be served by the same worker, or the test proves nothing.
        const checked: Post = async (url, body, headers) => {
          const res = await post(url, body, headers);
          expect(await workerOf(String(res.headers['x-request-id'])), `${url} served by the other worker`).toBe(worker);
          return res;
        };
        return { agent, post: checked };
      }
      await agent.close();
    }
    throw new Error(`no connection reached worker ${worker} in 20 tries`);
  }

  it('a key deactivated or disabled through one worker is refused by the other on its very next request', async () => {
    const { ca, okmsId, ovhTls } = await provision(admin);
    const ovh = `https://localhost:${ports.ovh}`;
    const huawei = `https://localhost:${ports.huawei}`;
    const probeOvh = (post: Post) =>
      post(`${ovh}/api/${okmsId}/v1/servicekey`, { name: 'probe', type: 'oct', size: 256, operations: ['encrypt'] });
    const probeHw = (post: Post) => post(`${huawei}/v1.0/00000000000000000000000000000000/kms/list-keys`, {});
    const sides: Side[] = [];
    const agents: Agent[] = [];
    for (const w of [1, 2]) {
      const o = await pinnedTo(w, ovhTls, probeOvh);
      const t = await pinnedTo(w, { ca, servername: 'localhost' }, probeHw);
      agents.push(o.agent, t.agent);
      sides.push({ ovh, huawei, ovhPost: o.post, tlsPost: t.post });
    }
    await changesEnforcedAcross(sides[0]!, sides[1]!, okmsId);
    await Promise.all(agents.map((a) => a.close()));
  }, 180_000);

  it('a worker killed right after answering: every operation it answered is in the audit trail', async () => {
    const { okmsId, ovhTls } = await provision(admin);
    const ovh = `https://localhost:${ports.ovh}/api/${okmsId}/v1/servicekey`;
    const pinned = await pinnedTo(1, ovhTls, (post) => post(ovh, { name: 'killed', type: 'oct', size: 256, operations: ['encrypt'] }));
    const key = (await pinned.post(ovh, { name: 'audited', type: 'oct', size: 256, operations: ['encrypt'] })).json.id as string;
    const answered = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const r = await pinned.post(`${ovh}/${key}/encrypt`, { plaintext: 'AAAA' });
        expect(r.status).toBe(200);
        return String(r.headers['x-request-id']);
      }),
    );
    const restarts = logs.split('starting another').length;
    // SIGKILL: nothing of the worker runs after this, so what it had not stored yet is only in its journal.
    process.kill((await servedBy(answered[0]!)).pid, 'SIGKILL');
    await pinned.agent.close().catch(() => undefined);
    for (let t = 0; t < 480 && logs.split('starting another').length === restarts; t++) await new Promise((r) => setTimeout(r, 250));
    expect(logs.split('starting another').length, logs).toBe(restarts + 1);
    // The primary stores that journal before the slot serves again: waited for, however busy the machine, but never lost.
    let ids: string[] = [];
    for (let t = 0; t < 240 && ids.length < answered.length; t++) {
      if (t) await new Promise((r) => setTimeout(r, 250));
      const { events } = await admin('GET', `/admin/audit?key=${key}&limit=100`);
      ids = events.filter((e: any) => e.action === 'key.encrypt').map((e: any) => e.requestId);
    }
    expect(ids.sort()).toEqual([...answered].sort());
  }, 180_000);

  it('SIGTERM stops every worker and the primary', async () => {
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(logs).toContain('all workers stopped');
  }, 120_000);
});

describe('a worker that cannot start', () => {
  it('stops the gateway with exit 1 instead of being restarted for ever', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'polykms-workers-fail-'));
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    const busy = (taken.address() as AddressInfo).port;
    const { DATABASE_URL: _db, ...inherited } = process.env;
    const child = spawn(process.execPath, ['apps/gateway/bin/polykms.mjs', 'serve', '--workers', '2'], {
      cwd: root,
      env: {
        ...inherited,
        POLYKMS_DATA_DIR: dir,
        POLYKMS_DIALECTS: 'ovh',
        POLYKMS_ADMIN_PORT: String(await freePort()),
        POLYKMS_OVH_PORT: String(busy),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let logs = '';
    child.stdout!.on('data', (d) => (logs += d));
    child.stderr!.on('data', (d) => (logs += d));
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    taken.close();
    rmSync(dir, { recursive: true, force: true });
    expect(code, logs).toBe(1);
    expect(logs).toContain('failed to start');
    expect(logs).not.toContain('starting another');
  }, 180_000);
});
