// One row of a dialect suite, profiled: the gateway (or, with REFERENCE, one of the row's reference
// servers) in this process, under load from 32 connections:
//   [LOAD_CPUS=1 taskset -c 0] [PROFILE=out.cpuprofile] [ALLOC=1] [THREADS=1] [REFERENCE=name] [RATE=n] \
//     node --import tsx bench/profile.ts <suite> <row> [ms]
// for example `huawei huawei.encrypt-data`. It prints req/s, p50/p99 and the CPU a request costs (the
// event loop; the process; by thread with THREADS=1). PROFILE adds the event loop's self time a request
// by function and what it ran during each long stall; ALLOC, the bytes allocated a request by function.
// With LOAD_CPUS and taskset, as `pnpm bench` measures: this process on one CPU, the load generator in
// a process of its own on the others (without, on a thread of this process). With REFERENCE the
// gateway stays set up in this process, idle, so its timers are billed to the reference too. With RATE,
// requests start at n a second (an open loop, latency from when each was due) instead of closed loops.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { loadCa } from '@polykms/pki';
import { favourEventLoop } from '@polykms/core/threads';
import { referenceServer } from './baselines.ts';
import { measure } from './harness.ts';
import { RemoteClient } from './load.ts';
import { cpuBetween, cpuSample } from './pin.ts';
import { DIALECTS } from './suites.ts';

const [suite = '', scenario = '', msArg = '4000'] = process.argv.slice(2);
const ms = Number(msArg);
if (!Object.hasOwn(DIALECTS, suite) || !(ms > 0)) {
  console.error(`usage: profile.ts <${Object.keys(DIALECTS).join('|')}> <row> [ms]`);
  process.exit(2);
}
const dialect = DIALECTS[suite]!;
const bench = await dialect.setup(32);
// From here on every way out removes the store set up for the run (a data directory in the temp dir).
let closing: Promise<void> | undefined;
const leave = (code: number) => {
  closing ??= bench.close().finally(() => process.exit(code));
  return closing as Promise<never>;
};
process.once('SIGINT', () => void leave(130));
process.once('SIGTERM', () => void leave(143));
/** A row or reference not in the suite: said on stderr first, whatever closing the store does. */
const refuse = (why: string): Promise<never> => {
  console.error(why);
  return leave(2);
};
try {
  await profileRow();
} catch (e) {
  console.error(e);
  await leave(1);
}
await leave(0);

async function profileRow() {
  const { plan } = bench;
  const row =
    plan.rows.find((r) => r.scenario === scenario) ??
    (await refuse(`the rows of ${suite}: ${plan.rows.map((r) => r.scenario).join(', ')}`));
  let port = plan.port;
  let request = row.subject;
  const refName = process.env.REFERENCE;
  if (refName) {
    const ref =
      row.references.find((r) => r.name === refName) ??
      (await refuse(`the references of ${scenario}: ${row.references.map((r) => r.name).join(', ')}`));
    const ca = await loadCa({ certPem: plan.ca.certPem, keyPkcs8Der: Buffer.from(plan.ca.key, 'base64') });
    port = (await referenceServer(ca, plan.mtls, dialect.referenceOps(plan.material))).port;
    request = ref.request;
  }
  const loadCpus = process.env.LOAD_CPUS?.split(',').map(Number);
  const rate = process.env.RATE ? Number(process.env.RATE) : undefined;
  if (rate !== undefined && !(Number.isFinite(rate) && rate > 0))
    return refuse(`RATE is requests a second, a positive number; got '${process.env.RATE}'`);
  const op = new RemoteClient(port, plan.tls, 32, { cpus: loadCpus }).load(request, rate);
  await favourEventLoop(); // as the gateway does (POLYKMS_BACKGROUND_NICE=0 to compare without)
  await measure(op, 32, 500);
  await bench.settle();

  // The profile covers the measured loop only (start-up and warm-up left out).
  const session = new Session();
  session.connect();
  const post = (m: string, params?: object) => new Promise<any>((res, rej) => session.post(m, params, (e, r) => (e ? rej(e) : res(r))));
  if (process.env.PROFILE) {
    await post('Profiler.enable');
    await post('Profiler.start');
  }
  // The profile's clock starts here: stall times are measured from the same point.
  const profiledFrom = performance.now();
  // ALLOC=1: where the garbage comes from, by sampling every allocation (collected objects included).
  if (process.env.ALLOC)
    await post('HeapProfiler.startSampling', {
      samplingInterval: 4096,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
  const eld = monitorEventLoopDelay({ resolution: 1 });
  eld.enable();
  // Each time a 1 ms timer came 15 ms or more late: when (ms after the profile started) and how late.
  const stalls: { at: number; ms: number }[] = [];
  let tick = performance.now();
  const ticker = setInterval(() => {
    const now = performance.now();
    if (now - tick >= 16) stalls.push({ at: now - profiledFrom, ms: now - tick - 1 });
    tick = now;
  }, 1);
  const gcs: number[] = [];
  const gcObserver = new PerformanceObserver((l) => {
    for (const e of l.getEntries()) gcs.push(e.duration);
  });
  gcObserver.observe({ entryTypes: ['gc'] });
  // CPU a request (Linux), steadier than req/s on a shared machine: each thread's utime + stime.
  const cpu0 = cpuSample(process.pid);
  const m = await measure(op, 32, ms);
  const cpu = cpuBetween(cpu0, cpuSample(process.pid));
  eld.disable();
  clearInterval(ticker);
  gcObserver.disconnect();
  const perReq = (us: number) => (us / m.ops).toFixed(0);
  if (process.env.THREADS)
    console.log(
      'CPU us a request by thread:',
      Object.entries(cpu.threads)
        .filter(([, us]) => us / m.ops >= 1)
        .sort((a, b) => b[1] - a[1])
        .map(([name, us]) => `${name}=${perReq(us)}`)
        .join(' '),
    );
  console.log(
    'CPU us a request: event loop',
    perReq(cpu.mainUs),
    loadCpus ? 'process' : 'process (load generator included)',
    perReq(cpu.processUs),
  );
  console.log(
    'event loop delay ms p50/p99/max',
    ...[eld.percentile(50), eld.percentile(99), eld.max].map((n) => (n / 1e6).toFixed(1)),
    'gc count',
    gcs.length,
    'total ms',
    gcs.reduce((a, b) => a + b, 0).toFixed(0),
    'max',
    Math.max(0, ...gcs).toFixed(1),
  );
  if (process.env.PROFILE) {
    const profile = (await post('Profiler.stop')).profile;
    writeFileSync(process.env.PROFILE, JSON.stringify(profile));
    console.log(`event loop, self time a request (us) by function:\n${selfTimes(profile, m.ops)}`);
    console.log(`stalls of 15 ms or more (${stalls.length}), and what the event loop's samples show during each:`);
    for (const s of stalls.slice(0, 12))
      console.log(`  ${s.ms.toFixed(1)} ms at ${s.at.toFixed(0)}: ${inWindow(profile, s.at - s.ms, s.at)}`);
  }
  if (process.env.ALLOC) {
    const { profile } = await post('HeapProfiler.stopSampling');
    console.log(`allocated, bytes a request by function:\n${allocations(profile, m.ops)}`);
  }
  session.disconnect();
  console.log(refName ?? scenario, m.opsPerSec.toFixed(0), 'req/s, p50', m.p50Ms.toFixed(1), 'p99', m.p99Ms.toFixed(1), 'ms');
}

/**
 * The profile's samples between two times (ms after it started): the longest gap between two samples
 * (the thread not running, or the profiler starved), and the functions sampled most, in ms.
 */
function inWindow(profile: any, from: number, to: number) {
  const frames = new Map<number, string>();
  for (const n of profile.nodes) frames.set(n.id, n.callFrame.functionName || n.callFrame.url.split('/').pop() || '(anonymous)');
  let t = 0;
  let gap = 0;
  const ms = new Map<string, number>();
  profile.samples.forEach((id: number, i: number) => {
    const d = profile.timeDeltas[i] / 1000;
    t += d;
    if (t < from || t - d > to) return;
    gap = Math.max(gap, d);
    const f = frames.get(id)!;
    ms.set(f, (ms.get(f) ?? 0) + d);
  });
  const top = [...ms].sort((a, b) => b[1] - a[1]).slice(0, 5);
  return `longest gap ${gap.toFixed(1)} ms; ${top.map(([f, v]) => `${f} ${v.toFixed(1)}`).join(', ')}`;
}

/** Sampled allocations by function (self), in bytes a request, most first. */
function allocations(profile: any, ops: number, top = 40) {
  const bytes = new Map<string, number>();
  const walk = (n: any) => {
    const f = `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.split('/').pop()}:${n.callFrame.lineNumber + 1}`;
    bytes.set(f, (bytes.get(f) ?? 0) + n.selfSize);
    for (const c of n.children) walk(c);
  };
  walk(profile.head);
  const total = [...bytes.values()].reduce((a, b) => a + b, 0);
  return [`  ${(total / ops).toFixed(0).padStart(6)}  (all)`]
    .concat(
      [...bytes]
        .sort((a, b) => b[1] - a[1])
        .slice(0, top)
        .map(([f, b]) => `  ${(b / ops).toFixed(0).padStart(6)}  ${f}`),
    )
    .join('\n');
}

/** The event loop's self time by function, in us a request, from the profile's samples, longest first. */
function selfTimes(profile: any, ops: number, top = 40) {
  const frames = new Map<number, string>();
  for (const n of profile.nodes)
    frames.set(n.id, `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.split('/').pop()}`.trim());
  const us = new Map<string, number>();
  profile.samples.forEach((id: number, i: number) => {
    const f = frames.get(id)!;
    us.set(f, (us.get(f) ?? 0) + profile.timeDeltas[i] / ops);
  });
  return [...us]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([f, t]) => `  ${t.toFixed(1).padStart(6)}  ${f}`)
    .join('\n');
}
