import { writeSync } from 'node:fs';
import { url as inspectorUrl } from 'node:inspector';
import { relative } from 'node:path';
import { Worker } from 'node:worker_threads';
import { beforeEach, expect } from 'vitest';

/**
 * A test whose event loop is blocked (a synchronous call that never returns) is beyond vitest's
 * timeouts, and CI would wait for it until its own limit. A thread of the test process watches a
 * heartbeat instead: after `STALL_S` without one it names the test and kills the process, so the run
 * fails at once and says where. The beat is a counter and the thread keeps its own clock, so fake
 * timers or a clock step cannot set it off; a process under a debugger is left alone.
 */
const STALL_S = 300;

if (!inspectorUrl()) {
  const beat = new Int32Array(new SharedArrayBuffer(4));
  setInterval(() => Atomics.add(beat, 0, 1), 1000).unref();
  const file = relative(process.cwd(), expect.getState().testPath ?? 'a test file');
  const watcher = new Worker(
    `const { workerData, parentPort } = require('node:worker_threads');
     const { writeSync } = require('node:fs');
     let current = workerData.file + ' (loading)';
     parentPort.on('message', (m) => { current = m; });
     let seen = Atomics.load(workerData.beat, 0);
     let since = performance.now();
     setInterval(() => {
       const now = Atomics.load(workerData.beat, 0);
       if (now !== seen) {
         seen = now;
         since = performance.now();
         return;
       }
       const stalled = Math.round((performance.now() - since) / 1000);
       if (stalled < workerData.limit) return;
       writeSync(2, '\\nwatchdog: the event loop of "' + current + '" has been blocked for ' + stalled + ' s; killing its test process\\n');
       process.kill(process.pid, 'SIGKILL');
     }, 5000);`,
    { eval: true, workerData: { beat, limit: STALL_S, file } },
  );
  watcher.unref();
  watcher.on('error', (e) => writeSync(2, `watchdog: ${e.message}\n`));
  beforeEach((ctx) => {
    watcher.postMessage(`${ctx.task.file.name} > ${ctx.task.name}`);
  });
}
