// Profiling entry: OVH encrypt (or RS256 or ES256 sign) over mTLS, or the bare echo behind the same
// transport, alone: `PROFILE=out.cpuprofile [THREADS=1] node --import tsx bench/profile-ovh.ts encrypt|sign|es256|echo [ms]`.
// It prints req/s, p99, and the CPU a request costs (event loop, each thread with THREADS=1, process);
// with PROFILE, also the event loop's self time a request by function.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { ovhBenchSetup } from './ovh.ts';
import { measure, type Subject } from './harness.ts';
import { echoBaseline } from './baselines.ts';
import { favourEventLoop } from '@polykms/core/threads';

const { kms, ca, okmsId, tls, load, create } = await ovhBenchSetup('profile', 32);
const scen = process.argv[2] ?? 'encrypt';
const encBody = { plaintext: randomBytes(1024).toString('base64') };
let op: Subject;
if (scen === 'echo') {
  const echo = await echoBaseline(ca, { mtls: true, tls, concurrency: 32 });
  op = echo.post(encBody);
} else if (scen === 'es256') {
  const ec = await create({ name: 'ec', type: 'EC', curve: 'P-256', operations: ['sign', 'verify'] });
  op = load.post(`/api/${okmsId}/v1/servicekey/${ec}/sign`, {
    alg: 'ES256',
    message: randomBytes(256).toString('base64'),
  });
} else if (scen === 'sign') {
  const rsa = await create({ name: 'rsa', type: 'RSA', size: 2048, operations: ['sign', 'verify'] });
  const b = { alg: 'RS256', message: randomBytes(256).toString('base64') };
  op = load.post(`/api/${okmsId}/v1/servicekey/${rsa}/sign`, b);
} else {
  const aes = await create({ name: 'aes', type: 'oct', size: 256, operations: ['encrypt', 'decrypt'] });
  op = load.post(`/api/${okmsId}/v1/servicekey/${aes}/encrypt`, encBody);
}
await favourEventLoop(); // as the gateway does (POLYKMS_BACKGROUND_NICE=0 to compare without)
await measure(op, 32, 500);
// The profile covers the measured loop only (start-up and warm-up left out).
const session = new Session();
session.connect();
const post_ = (m: string, p?: object) => new Promise<any>((res, rej) => session.post(m, p, (e, r) => (e ? rej(e) : res(r))));
if (process.env.PROFILE) {
  await post_('Profiler.enable');
  await post_('Profiler.start');
}
const { monitorEventLoopDelay, PerformanceObserver } = await import('node:perf_hooks');
const eld = monitorEventLoopDelay({ resolution: 1 });
eld.enable();
const gcs: number[] = [];
const kinds = new Map<number, number[]>();
const obs = new PerformanceObserver((l) => {
  for (const e of l.getEntries()) {
    gcs.push(e.duration);
    const k = (e as any).detail?.kind ?? 0;
    kinds.set(k, [...(kinds.get(k) ?? []), e.duration]);
  }
});
obs.observe({ entryTypes: ['gc'] });
// CPU per request (Linux), less noisy than req/s on a shared machine: the event loop's thread, every
// thread (THREADS=1: load generator, database, workers, V8's helpers) and the whole process.
const { readFileSync, readdirSync } = await import('node:fs');
const threadTicks = () => {
  const out = new Map<string, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const f = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      out.set(tid, Number(f[11]) + Number(f[12])); // utime + stime, in 1/100 s
    } catch {} // the thread ended
  }
  return out;
};
const ticks0 = threadTicks();
const c0 = process.cpuUsage();
const a0 = { batches: kms.audit.batches, written: kms.audit.written };
const m = await measure(op, 32, Number(process.argv[3] ?? 4000));
console.log('audit events a batch', ((kms.audit.written - a0.written) / (kms.audit.batches - a0.batches)).toFixed(1));
const cu = process.cpuUsage(c0);
const perReq = [...threadTicks()].map(([tid, t]) => [tid, ((t - (ticks0.get(tid) ?? 0)) * 1e4) / m.ops] as const);
if (process.env.THREADS)
  console.log(
    'CPU us a request by thread:',
    perReq
      .filter(([, us]) => us >= 1)
      .sort((a, b) => b[1] - a[1])
      .map(
        ([tid, us]) =>
          `${tid === String(process.pid) ? 'loop' : tid + ':' + readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim()}=${us.toFixed(0)}`,
      )
      .join(' '),
  );
console.log(
  'CPU us a request: event loop',
  perReq.find(([tid]) => tid === String(process.pid))![1].toFixed(0),
  'process',
  ((cu.user + cu.system) / m.ops).toFixed(0),
);
eld.disable();
console.log(
  'event loop delay ms p50/p99/max',
  (eld.percentile(50) / 1e6).toFixed(1),
  (eld.percentile(99) / 1e6).toFixed(1),
  (eld.max / 1e6).toFixed(1),
  'gc count',
  gcs.length,
  'gc total ms',
  gcs.reduce((a, b) => a + b, 0).toFixed(0),
  'gc max',
  Math.max(...gcs).toFixed(1),
);
console.log(
  'gc by kind',
  [...kinds]
    .map(([k, v]) => `${k}: n=${v.length} max=${Math.max(...v).toFixed(1)} sum=${v.reduce((a, b) => a + b, 0).toFixed(0)}`)
    .join('; '),
);
if (process.env.PROFILE) {
  const profile = (await post_('Profiler.stop')).profile;
  writeFileSync(process.env.PROFILE, JSON.stringify(profile));
  console.log(`event loop, self time a request (us) by function:\n${selfTimes(profile, m.ops)}`);
}
console.log(scen, m.opsPerSec.toFixed(0), 'p99', m.p99Ms.toFixed(1), 'audit events still buffered', kms.audit.pending);
process.exit(0);

/** The event loop's self time by function, in us a request, from the profile's samples: where its CPU goes, longest first. */
function selfTimes(profile: any, ops: number, top = 30) {
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
