import { writeSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { beforeEach } from 'vitest';

/**
 * A test whose event loop is blocked (a synchronous call that never returns) is beyond vitest's
 * timeouts, and CI would wait for it until its own limit. A thread of the test process watches a
 * heartbeat instead: after `STALL_S` without one it names the test and kills the process, so the run
 * fails at once and says where.
 */
const STALL_S = 300;
const beat = new Int32Array(new SharedArrayBuffer(4));
const now = () => Math.floor(Date.now() / 1000);
Atomics.store(beat, 0, now());
setInterval(() => Atomics.store(beat, 0, now()), 1000).unref();

const watcher = new Worker(
  `const { workerData, parentPort } = require('node:worker_threads');
   const { writeSync } = require('node:fs');
   let current = workerData.file;
   parentPort.on('message', (m) => { current = m; });
   setInterval(() => {
     const stalled = Math.floor(Date.now() / 1000) - Atomics.load(workerData.beat, 0);
     if (stalled < workerData.limit) return;
     writeSync(2, '\\nwatchdog: the event loop of "' + current + '" has been blocked for ' + stalled + ' s; killing its test process\\n');
     process.kill(process.pid, 'SIGKILL');
   }, 5000);`,
  { eval: true, workerData: { beat, limit: STALL_S, file: 'a test file' } },
);
watcher.unref();
watcher.on('error', (e) => writeSync(2, `watchdog: ${e.message}\n`));

beforeEach((ctx) => {
  watcher.postMessage(`${ctx.task.file.name} > ${ctx.task.name}`);
});
