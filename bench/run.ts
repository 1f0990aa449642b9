import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { printTable, writeJson, type Row } from './harness.ts';
import { favourEventLoop } from '@polykms/core/threads';
import { allowedCpus, canPin, formatCpuList, parseCpuList, pinRunning } from './pin.ts';
import { runSuite, type Pinning } from './procs.ts';
import { SUITE_NAMES } from './suites.ts';

const USAGE = `usage: pnpm bench [core|ovh|huawei|cse|scale|workers ...] [--duration SECONDS] [--concurrency N] [--json FILE]
                  [--server-cpus LIST] [--load-cpus LIST] [--shared] [--before DIR] [--rate N]

Each dialect's gateway listener runs in its own process pinned to --server-cpus (default: the first CPU
this process may use), with the store, logging, metrics and audit of \`pnpm start\`; its reference
servers (the bare echo, the row's crypto alone, over the same transport) run in processes pinned the
same way, alternating with it in slices; the load generators run in processes pinned to --load-cpus
(default: the other CPUs). Prints req/s per server core, p50/p99, the CPU time a request costs the
gateway process (from /proc) and the ratios. core and scale run in a process pinned to --server-cpus;
workers starts \`polykms serve --workers 1\` and \`--workers 2\` and loads them unpinned: req/s and the CPU a
request costs all the gateway's processes; with --rate N, at N requests a second each (open loop, at most
--concurrency in flight) instead of at saturation.
--before DIR: also measure, in the same slices and pinned the same way, the gateway of the checkout DIR
(an earlier commit with this bench/ in it); each row then reports its ratio to 'before'.
--shared: the old mode, everything in this process (the load generator on a worker thread), unpinned.
With DATABASE_URL set, the suites run on that Postgres; otherwise on embedded PGlite.`;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    duration: { type: 'string', default: '4' },
    concurrency: { type: 'string', default: '32' },
    json: { type: 'string' },
    'server-cpus': { type: 'string' },
    'load-cpus': { type: 'string' },
    shared: { type: 'boolean', default: false },
    before: { type: 'string' },
    rate: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
const fail = (msg: string) => {
  console.error(`${msg}\n${USAGE}`);
  process.exit(2);
};
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const wanted = positionals.length ? positionals : SUITE_NAMES;
for (const w of wanted) if (!SUITE_NAMES.includes(w)) fail(`unknown suite '${w}'; available: ${SUITE_NAMES.join(', ')}`);
const ms = Number(values.duration) * 1000;
const concurrency = Number(values.concurrency);
if (!(ms > 0) || !(concurrency > 0)) fail('--duration and --concurrency must be positive numbers');
const rate = values.rate === undefined ? undefined : Number(values.rate);
if (rate !== undefined) {
  if (!(Number.isFinite(rate) && rate > 0)) fail('--rate must be a positive number of requests a second');
  if (wanted.some((w) => w !== 'workers')) fail('--rate applies to the workers suite only');
}

if (values.before !== undefined) {
  if (values.shared) fail('--before needs the pinned mode (not --shared)');
  if (!existsSync(join(values.before, 'bench', 'serve.ts'))) fail(`--before: ${values.before} has no bench/serve.ts`);
}
let pin: Pinning | undefined;
const machine = canPin() ? allowedCpus(process.pid) : undefined;
if (!values.shared) {
  if (!canPin()) fail('pinning needs Linux with /proc and taskset (util-linux); --shared runs everything in one process, unpinned');
  const allowed = allowedCpus(process.pid);
  const cpus = (opt: string, list: string | undefined, dflt: number[]) => {
    let c: number[] = dflt;
    try {
      if (list !== undefined) c = parseCpuList(list);
    } catch (e) {
      fail(`${opt}: ${(e as Error).message}`);
    }
    const out = c.filter((x) => !allowed.includes(x));
    if (out.length) fail(`${opt}: CPU ${formatCpuList(out)} is not available here (available: ${formatCpuList(allowed)})`);
    return c;
  };
  const server = cpus('--server-cpus', values['server-cpus'], allowed.slice(0, 1));
  const load = cpus(
    '--load-cpus',
    values['load-cpus'],
    allowed.filter((c) => !server.includes(c)),
  );
  if (!load.length) fail(`no CPU left for the load generator (available: ${formatCpuList(allowed)}); give --load-cpus, or --shared`);
  const both = server.filter((c) => load.includes(c));
  if (both.length)
    console.error(`warning: CPU ${formatCpuList(both)} is in both --server-cpus and --load-cpus: the load generator takes from the server`);
  pin = { server, load };
  // This process only orchestrates, but it stays off the server's CPUs too.
  pinRunning(process.pid, load);
  console.error(`servers on CPU ${formatCpuList(server)}, load generators on CPU ${formatCpuList(load)}`);
} else {
  // As the gateway's main does: the event loop first, the other threads below it.
  await favourEventLoop();
}
const rows: Row[] = [];
for (const w of wanted) rows.push(...(await runSuite(w, { ms, concurrency, rate, machine, pin, before: values.before })));
printTable(rows);
if (values.json) writeJson(values.json, rows);
