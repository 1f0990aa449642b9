import { loadCa } from '@polykms/pki';
import { favourEventLoop } from '@polykms/core/threads';
import type { HttpsServer } from '@polykms/http';
import { referenceServer, type RefMaterial } from './baselines.ts';
import type { DialectBench, Plan } from './dialect.ts';
import { DIALECTS, IN_PROCESS } from './suites.ts';
import { serveRpc } from './rpc.ts';

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
      case 'settle':
        // The audit buffer a slice leaves is written within the slice's CPU window. No forced GC: each
        // process serves only its own slices, so its garbage is collected, and billed, in its own time.
        await bench?.settle();
        return;
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
