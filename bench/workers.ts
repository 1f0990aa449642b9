import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, freePort } from '@polykms/core/testing';
import { LoadClient } from './client.ts';
import { compareMany, type Entry, type Row } from './harness.ts';
import { RemoteClient } from './load.ts';
import { cpuSample, formatCpuList, type CpuSample } from './pin.ts';

const root = new URL('..', import.meta.url).pathname;

/** Every process under `pid` (the primary and its workers), as one CPU sample keyed by process and thread. */
export function treeCpuSample(pid: number): CpuSample {
  const pids = [pid];
  for (let i = 0; i < pids.length; i++)
    for (const p of readdirSync('/proc')) {
      if (!/^\d+$/.test(p)) continue;
      try {
        const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
        if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pids[i]) pids.push(Number(p));
      } catch {} // gone
    }
  const out: CpuSample = { processUs: 0, threads: new Map() };
  for (const p of pids)
    try {
      const s = cpuSample(p);
      out.processUs += s.processUs;
      for (const [k, v] of s.threads) out.threads.set(p === pid ? `primary ${k}` : `${p} ${k}`, v);
    } catch {} // gone
  return out;
}

/** `polykms serve --workers n --dialect ovh` on a fresh data directory, with one OVH domain, credential and AES key. */
async function gateway(n: number, cpus: number[] | undefined) {
  const dir = mkdtempSync(join(tmpdir(), `polykms-bench-workers${n}-`));
  const token = randomBytes(24).toString('base64url');
  const ports = { admin: await freePort(), ovh: await freePort() };
  const { DATABASE_URL: _url, ...env } = process.env;
  // On PostgreSQL, a throwaway database (the keys of other runs are under other root keys).
  const db = process.env.DATABASE_URL ? await createTestDatabase('postgres') : undefined;
  const serve = [process.execPath, 'apps/gateway/bin/polykms.mjs', 'serve', '--workers', String(n), '--dialect', 'ovh'];
  // taskset execs node, so the pid is the primary's; its workers inherit the CPU list.
  const [cmd, ...args] = cpus ? ['taskset', '-c', formatCpuList(cpus), ...serve] : serve;
  const child: ChildProcess = spawn(cmd!, args, {
    cwd: root,
    env: {
      ...env,
      ...(db ? { DATABASE_URL: db.url! } : {}),
      POLYKMS_DATA_DIR: dir,
      POLYKMS_ADMIN_TOKEN: token,
      POLYKMS_ADMIN_PORT: String(ports.admin),
      POLYKMS_OVH_PORT: String(ports.ovh),
      POLYKMS_LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  for (let t = 0; !existsSync(join(dir, 'ca.pem')); t++) {
    if (t > 600 || child.exitCode !== null) throw new Error(`the gateway with ${n} workers did not start`);
    await new Promise((r) => setTimeout(r, 250));
  }
  const admin = new LoadClient(ports.admin, { ca: readFileSync(join(dir, 'ca.pem'), 'utf8'), servername: 'localhost' }, 1);
  const call = async (path: string, body?: unknown) => {
    const r = await admin.request(body === undefined ? 'GET' : 'POST', path, body === undefined ? '' : JSON.stringify(body), {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
    });
    if (r.status >= 300) throw new Error(`${path}: ${r.status} ${r.body}`);
    return JSON.parse(r.body);
  };
  for (let t = 0; ; t++) {
    const up = await call('/readyz').then(
      () => true,
      () => false,
    );
    if (up) break;
    if (t > 600 || child.exitCode !== null) throw new Error(`the gateway with ${n} workers did not start`);
    await new Promise((r) => setTimeout(r, 250));
  }
  const ca = (await call('/admin/ca')).certificatePEM as string;
  const domain = await call('/v2/okms/resource', { region: 'eu-west-rbx' });
  const cred = await call(`/v2/okms/resource/${domain.id}/credential`, {
    name: 'bench',
    identityURNs: ['urn:v1:eu:identity:account:bench'],
  });
  const got = await call(`/v2/okms/resource/${domain.id}/credential/${cred.id}`);
  const tls = { ca, cert: got.certificatePEM as string, key: cred.privateKeyPEM as string, servername: 'localhost' };
  const ovh = new LoadClient(ports.ovh, tls, 1);
  const base = `/api/${domain.id}/v1/servicekey`;
  const key = JSON.parse(
    (
      await ovh.request('POST', base, JSON.stringify({ name: 'bench', type: 'oct', size: 256, operations: ['encrypt', 'decrypt'] }), {
        'content-type': 'application/json',
      })
    ).body,
  ).id as string;
  return {
    pid: child.pid!,
    port: ports.ovh,
    tls,
    encrypt: {
      method: 'POST',
      path: `${base}/${key}/encrypt`,
      body: JSON.stringify({ plaintext: randomBytes(1024).toString('base64') }),
      headers: { 'content-type': 'application/json' },
    },
    async close() {
      await admin.close();
      await ovh.close();
      await new Promise((r) => (child.exitCode !== null ? r(null) : (child.once('exit', r), child.kill('SIGTERM'))));
      rmSync(dir, { recursive: true, force: true });
      await db?.drop();
    },
  };
}

/**
 * The real `polykms serve` with one worker and with two, unpinned, on the same machine as the load
 * generator: req/s and the CPU a request costs all the gateway's processes (the primary included).
 * With `rate`, both get the same requests a second (below what one worker serves): at saturation a
 * turn carries as many requests as wait, so one busy worker shares a turn's costs more widely than two.
 */
export async function benchWorkers(o: {
  ms: number;
  concurrency: number;
  rate?: number | undefined;
  machine?: number[] | undefined;
}): Promise<Row[]> {
  // The bench pins itself to the load CPUs, and a child inherits that: gateways and load generators
  // are given back every CPU the bench started with (`machine`), so two workers have two cores.
  const one = await gateway(1, o.machine);
  const two = await gateway(2, o.machine);
  const loads = [one, two].map((g) => new RemoteClient(g.port, g.tls, o.concurrency, { cpus: o.machine }));
  try {
    const entry = (name: string, g: typeof one, l: RemoteClient): Entry => ({
      name,
      run: l.load(g.encrypt, o.rate),
      pid: g.pid,
      cpu: () => treeCpuSample(g.pid),
      loadPid: l.pid,
    });
    return [
      await compareMany(
        `workers.ovh.encrypt.1KiB x2${o.rate ? ` at ${o.rate}/s` : ''}`,
        [entry('1 worker', one, loads[0]!)],
        entry('2 workers', two, loads[1]!),
        o,
      ),
    ];
  } finally {
    for (const l of loads) await l.close();
    await one.close();
    await two.close();
  }
}
