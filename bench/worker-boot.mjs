// A worker thread's entry for bench code written in TypeScript: Node 20 does not hand `--import tsx`
// to worker threads, so the worker registers tsx itself and then loads `workerData.entry`.
import { register } from 'tsx/esm/api';
import { workerData } from 'node:worker_threads';

register();
await import(workerData.entry);
