import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { loadCa } from '@polykms/pki';
import { echoBaseline } from './baselines.ts';
import type { DialectBench, Plan } from './dialect.ts';
import { compareMany, type Entry, type Row } from './harness.ts';
import { exitOf, RemoteClient } from './load.ts';
import { checkPinned, spawnNode } from './pin.ts';
import { Rpc } from './rpc.ts';
import { DIALECTS, IN_PROCESS, WHOLE } from './suites.ts';

export interface Pinning {
  server: number[];
  load: number[];
}

export interface RunOpts {
  ms: number;
  concurrency: number;
  /** workers only: requests a second at a fixed rate, instead of closed loops. */
  rate?: number | undefined;
  /** Every CPU the bench may use (before it pins itself to the load CPUs): where `workers` runs. */
  machine?: number[] | undefined;
  /** Absent: the old mode, everything in this process (the load generator on a worker thread). */
  pin?: Pinning | undefined;
  /**
   * A checkout of an earlier commit whose `bench/serve.ts` speaks this bench's protocol: its gateway is
   * measured in the same slices, pinned the same way, as the reference row 'before'.
   */
  before?: string | undefined;
}

/** A bench server process (`serve.ts`) pinned to `cpus`, once it listens for calls. */
async function serverProcess(label: string, cpus: number[], script = new URL('./serve.ts', import.meta.url).pathname) {
  const child = spawnNode([script], cpus);
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code, signal) => reject(new Error(`${label} exited (${signal ?? code}) while starting`)));
    child.once('error', reject);
  });
  const rpc = new Rpc(child, label);
  return { child, pid: child.pid!, call: (m: object) => rpc.call(m) };
}

const stop = async (p: { child: ChildProcess; call: (m: object) => Promise<any> } | undefined) => {
  if (!p) return;
  try {
    await p.call({ call: 'close' });
  } finally {
    await exitOf(p.child);
  }
};

/** Checks every thread of each process is where it was put, and says so. */
function verifyPinning(procs: [string, number | undefined, number[]][]) {
  for (const [label, pid, cpus] of procs) if (pid) console.error(`  pinned: ${checkPinned(label, pid, cpus)}`);
}

/**
 * A dialect suite with each server in its own process pinned to the server CPUs (the gateway; the
 * reference servers, alternating with it) and the load generators pinned to the others.
 */
async function pinnedDialect(name: string, o: RunOpts & { pin: Pinning }): Promise<Row[]> {
  let gw: Awaited<ReturnType<typeof serverProcess>> | undefined;
  let ref: Awaited<ReturnType<typeof serverProcess>> | undefined;
  let old: Awaited<ReturnType<typeof serverProcess>> | undefined;
  const loads: RemoteClient[] = [];
  try {
    gw = await serverProcess(`${name} gateway`, o.pin.server);
    const plan = (await gw.call({ call: 'setup', suite: name, concurrency: o.concurrency })).plan as Plan;
    ref = await serverProcess(`${name} reference server`, o.pin.server);
    const { port } = await ref.call({
      call: 'reference',
      suite: name,
      ca: plan.ca,
      material: plan.material,
      mtls: plan.mtls,
    });
    const gwLoad = new RemoteClient(plan.port, plan.tls, o.concurrency, { cpus: o.pin.load });
    const refLoad = new RemoteClient(port, plan.tls, o.concurrency, { cpus: o.pin.load });
    loads.push(gwLoad, refLoad);
    let before: { plan: Plan; load: RemoteClient; pid: number; settle: () => Promise<unknown> } | undefined;
    if (o.before) {
      const b = (old = await serverProcess(`${name} gateway (before)`, o.pin.server, join(o.before, 'bench', 'serve.ts')));
      const bplan = (await b.call({ call: 'setup', suite: name, concurrency: o.concurrency })).plan as Plan;
      const load = new RemoteClient(bplan.port, bplan.tls, o.concurrency, { cpus: o.pin.load });
      loads.push(load);
      before = { plan: bplan, load, pid: b.pid, settle: () => b.call({ call: 'settle' }) };
    }
    const [g, r] = [gw, ref];
    const rows: Row[] = [];
    for (const row of plan.rows) {
      const references: Entry[] = row.references.map((x) => ({
        name: x.name,
        run: refLoad.load(x.request),
        pid: r.pid,
        loadPid: refLoad.pid,
        settle: () => r.call({ call: 'settle' }),
      }));
      const earlier = before?.plan.rows.find((x) => x.scenario === row.scenario);
      if (before && earlier)
        references.push({
          name: 'before',
          run: before.load.load(earlier.subject),
          pid: before.pid,
          loadPid: before.load.pid,
          settle: before.settle,
        });
      const subject: Entry = {
        name: row.scenario,
        run: gwLoad.load(row.subject),
        pid: g.pid,
        loadPid: gwLoad.pid,
        settle: () => g.call({ call: 'settle' }),
      };
      rows.push(await compareMany(row.scenario, references, subject, { ...o, cores: o.pin.server.length }));
    }
    verifyPinning([
      [`${name} gateway`, gw.pid, o.pin.server],
      [`${name} reference server`, ref.pid, o.pin.server],
      [`${name} load generator (gateway)`, gwLoad.pid, o.pin.load],
      [`${name} load generator (reference)`, refLoad.pid, o.pin.load],
      ['the bench itself', process.pid, o.pin.load],
    ]);
    return rows;
  } finally {
    for (const l of loads) await l.close();
    await stop(ref);
    await stop(old);
    await stop(gw);
  }
}

/** The old mode: the gateway, the reference server and (on worker threads) the load generators in this process. */
async function sharedDialect(name: string, o: RunOpts): Promise<Row[]> {
  const suite = DIALECTS[name]!;
  const bench: DialectBench = await suite.setup(o.concurrency);
  const { plan } = bench;
  const ca = await loadCa({ certPem: plan.ca.certPem, keyPkcs8Der: Buffer.from(plan.ca.key, 'base64') });
  const echo = await echoBaseline(ca, { mtls: plan.mtls, tls: plan.tls, concurrency: o.concurrency }, suite.referenceOps(plan.material));
  const load = new RemoteClient(plan.port, plan.tls, o.concurrency);
  try {
    const rows: Row[] = [];
    for (const row of plan.rows) {
      const references = row.references.map((x) => ({ name: x.name, run: echo.load(x.request) }));
      rows.push(await compareMany(row.scenario, references, load.load(row.subject), { ...o, settle: () => bench.settle() }));
    }
    return rows;
  } finally {
    await load.close();
    await echo.close();
    await bench.close();
  }
}

/** An in-process suite (core, scale), in a process pinned to the server CPUs, or here. */
async function inProcess(name: string, o: RunOpts): Promise<Row[]> {
  if (!o.pin) return IN_PROCESS[name]!(o);
  const p = await serverProcess(`${name} suite`, o.pin.server);
  try {
    const rows = (await p.call({ call: 'run', suite: name, ms: o.ms, concurrency: o.concurrency })).rows as Row[];
    verifyPinning([[`${name} suite`, p.pid, o.pin.server]]);
    // core's rows are operation rates of a process on those CPUs; scale's are not rates of a core.
    if (name !== 'core') return rows;
    const cores = o.pin.server.length;
    return rows.map((r) => ({
      ...r,
      cores,
      reqPerSecPerCore: r.reqPerSec / cores,
      baselineReqPerSecPerCore: r.baselineReqPerSec / cores,
    }));
  } finally {
    await stop(p);
  }
}

export function runSuite(name: string, o: RunOpts): Promise<Row[]> {
  if (WHOLE[name]) return WHOLE[name](o);
  if (DIALECTS[name]) return o.pin ? pinnedDialect(name, { ...o, pin: o.pin }) : sharedDialect(name, o);
  return inProcess(name, o);
}
