import { loadCa } from '@polykms/pki';
import { favourEventLoop } from '@polykms/core/threads';
import type { HttpsServer } from '@polykms/http';
import { referenceServer, type RefMaterial } from './baselines.ts';
import type { DialectBench, Plan } from './dialect.ts';
import { DIALECTS, IN_PROCESS } from './suites.ts';
import { serveRpc } from './rpc.ts';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';

/**
 * A bench server process, started pinned by `bench/procs.ts`: a dialect's gateway listener on the
 * store, logging, metrics and audit `pnpm start` has (the suite's `setup`), or a reference server over
 * the same transport, or an in-process suite. It answers the bench over IPC and ends with it.
 */
let bench: DialectBench | undefined;
let reference: HttpsServer | undefined;

type Call =
  | { call: 'setup'; suite: string; concurrency: number }
  | { call: 'reference'; suite: string; ca: Plan['ca']; material: RefMaterial; mtls: boolean }
  | { call: 'settle' }
  | { call: 'run'; suite: string; ms: number; concurrency: number }
  | { call: 'close' };

// As the gateway's main does: the event loop first, the other threads below it.
await favourEventLoop();
// What this process saw of each slice, answered with the `settle` that ends it: its longest event-loop
// stall and longest GC pause, so a slice's p99 can be told apart from a stall in the server.
const loop = monitorEventLoopDelay({ resolution: 5 });
loop.enable();
let gcMaxMs = 0;
new PerformanceObserver((l) => {
  for (const e of l.getEntries()) gcMaxMs = Math.max(gcMaxMs, e.duration);
}).observe({ entryTypes: ['gc'] });
const restart = () => {
  loop.reset();
  gcMaxMs = 0;
};
process.on('disconnect', () => process.exit(0));
serveRpc(
  process,
  (m) => process.send!(m),
  async (m: Call) => {
    switch (m.call) {
      case 'setup':
        bench = await DIALECTS[m.suite]!.setup(m.concurrency);
        return { plan: bench.plan };
      case 'reference': {
        const ca = await loadCa({ certPem: m.ca.certPem, keyPkcs8Der: Buffer.from(m.ca.key, 'base64') });
        reference = await referenceServer(ca, m.mtls, DIALECTS[m.suite]!.referenceOps(m.material));
        return { port: reference.port };
      }
      case 'settle': {
        // The audit buffer a slice leaves is written within the slice's CPU window. No forced GC: each
        // process serves only its own slices, so its garbage is collected, and billed, in its own time.
        const seen = { loopMaxMs: loop.max / 1e6, gcMaxMs };
        await bench?.settle();
        restart();
        return seen;
      }
      case 'run':
        return { rows: await IN_PROCESS[m.suite]!({ ms: m.ms, concurrency: m.concurrency }) };
      case 'close':
        await bench?.close();
        await reference?.close();
        return;
    }
  },
);
process.send!({ ready: true });
