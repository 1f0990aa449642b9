import { benchOvh } from './ovh.ts';
import { printTable } from './harness.ts';
printTable(await benchOvh({ ms: 3000, concurrency: 32 }));
