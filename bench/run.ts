import { parseArgs } from 'node:util';
import { benchCore } from './core.ts';
import { benchOvh } from './ovh.ts';
import { benchHuawei } from './huawei.ts';
import { benchCse } from './cse.ts';
import { benchScale } from './scale.ts';
import { printTable, writeJson, type Row } from './harness.ts';
import { favourEventLoop } from '@polykms/core';

const USAGE = `usage: pnpm bench [core|ovh|huawei|cse|scale ...] [--duration SECONDS] [--concurrency N] [--json FILE]

Runs each scenario next to its baseline in the same process and prints req/s, p50/p99 and the ratio.
With DATABASE_URL set, core runs on that Postgres; otherwise on in-memory PGlite.`;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    duration: { type: 'string', default: '4' },
    concurrency: { type: 'string', default: '32' },
    json: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const suites: Record<string, (o: { ms: number; concurrency: number }) => Promise<Row[]>> = { core: benchCore, ovh: benchOvh, huawei: benchHuawei, cse: benchCse, scale: benchScale };
const wanted = positionals.length ? positionals : Object.keys(suites);
for (const w of wanted) {
  if (!suites[w]) {
    console.error(`unknown suite '${w}'; available: ${Object.keys(suites).join(', ')}\n${USAGE}`);
    process.exit(2);
  }
}
const ms = Number(values.duration) * 1000;
const concurrency = Number(values.concurrency);
if (!(ms > 0) || !(concurrency > 0)) {
  console.error(`--duration and --concurrency must be positive numbers\n${USAGE}`);
  process.exit(2);
}
// As the gateway's main does: the event loop first, the other threads below it.
await favourEventLoop();
const rows: Row[] = [];
for (const w of wanted) rows.push(...(await suites[w]!({ ms, concurrency })));
printTable(rows);
if (values.json) writeJson(values.json, rows);
