// One row of a dialect suite, counted in instructions instead of timed: the gateway in this process
// under valgrind's callgrind, the load generator in a process of its own.
//   [KEEP=1] [WARMUP=4] [REFERENCE=name] node --import tsx bench/instructions.ts <suite> <row> [requests]
// (KEEP=1 leaves callgrind's files, for callgrind_annotate, with V8's names for the addresses in them;
// WARMUP is the warm-up in multiples of `requests`, 4 unless set; REFERENCE counts one of the row's
// reference servers instead, in this process beside the idle gateway, whose timers are counted with it.)
// It prints the instructions a request costs on each of the gateway's threads: the same code gives
// nearly the same count however busy the machine, where a timed row moves more between runs than the
// changes left to make (bench/RESULTS.md). A count is not time (cache misses and waits cost nothing),
// and valgrind slows the gateway down so far that what time decides is set by count instead: the
// warm-up is a number of requests, and the audit journal goes into the store by full statements,
// settled inside the counted window. What still runs by the clock (a cache entry's expiry)
// lands on far fewer requests than at full speed: the output says how long the window took. Counts
// compare only at the same `requests` and warm-up: a short window holds a whole major collection.
import { spawn, execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadCa } from '@polykms/pki';
import { JOURNAL_DEFAULTS } from '../packages/core/src/audit-journaled.ts';
import { referenceServer } from './baselines.ts';
import { RemoteClient } from './load.ts';
import { DIALECTS } from './suites.ts';
import { annotatedCosts, compileShare, jitNames, type Names } from './callgrind.ts';

const run = promisify(execFile);
const [suite = '', scenario = '', nArg = '2048'] = process.argv.slice(2);
const requests = Number(nArg);
const warmup = Number(process.env.WARMUP ?? 4);
if (!Object.hasOwn(DIALECTS, suite) || !(Number.isInteger(requests) && requests > 0) || !(Number.isInteger(warmup) && warmup >= 0)) {
  console.error(`usage: [WARMUP=<whole number>] instructions.ts <${Object.keys(DIALECTS).join('|')}> <row> [requests]`);
  process.exit(2);
}

if (process.env.POLYKMS_COUNTED) await counted();
else process.exitCode = await count();

/** Runs this script again under callgrind, then reads what each thread executed in the window. */
async function count(): Promise<number> {
  const out = mkdtempSync(join(tmpdir(), 'polykms-instructions-'));
  let pid = 0;
  try {
    const cmd = [
      'valgrind',
      '-q',
      '--tool=callgrind',
      '--instr-atstart=no',
      '--separate-threads=yes',
      `--callgrind-out-file=${join(out, 'cg.%p')}`,
      process.execPath,
      // JavaScript's compiled code is named in a map V8 writes.
      '--perf-basic-prof',
      // Collection on the event loop, as its own allocation schedules it: V8's helper threads would take
      // a share of it that depends on how the threads were scheduled. (V8 still compiles on a thread.)
      '--single-threaded',
      '--import',
      'tsx',
      new URL(import.meta.url).pathname,
      suite,
      scenario,
      String(requests),
    ];
    const child = spawn(cmd[0]!, cmd.slice(1), {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, POLYKMS_COUNTED: '1' },
    });
    // valgrind runs node in its own process: V8's map is named by this pid, whatever becomes of the run.
    pid = child.pid ?? 0;
    let said = '';
    child.stdout.on('data', (d: Buffer) => {
      said += d;
    });
    const code = await new Promise<number>((r) => child.once('close', (c) => r(c ?? 1)));
    if (code !== 0) return code;
    const done = said.split('\n').find((l) => l.startsWith('{"ops":'));
    if (!done) throw new Error(`the counted run did not say how many requests it made: ${said.slice(-500)}`);
    const { ops, ms, served, mapBytes } = JSON.parse(done) as { ops: number; ms: number; served: string; mapBytes: number };
    // The dump made at the end of the window is part 1; a file per thread.
    const files = readdirSync(out).filter((f) => f.startsWith(`cg.${pid}.1-`));
    if (!files.some((f) => f.endsWith('-01'))) throw new Error(`no dump of the event loop (cg.${pid}.1-01) in ${out}`);
    // The map as the window closed: code made while the run shut down may have reused an address since.
    const names = jitNames(readFileSync(`/tmp/perf-${pid}.map`).subarray(0, mapBytes).toString('utf8'));
    const threads = await Promise.all(
      files.map(async (f) => ({ thread: Number(f.slice(f.lastIndexOf('-') + 1)), ...(await thread(join(out, f), names)) })),
    );
    const shown = threads.filter((t) => t.total / ops >= 1000).sort((a, b) => a.thread - b.thread);
    const perReq = (n: number) => Math.round(n / ops).toLocaleString('en-US');
    const all = threads.reduce((s, t) => s + t.total, 0);
    console.log(
      `${scenario}${served ? ` (reference: ${served})` : ''}: ${ops} requests; instructions a request by thread (and its costliest function):`,
    );
    for (const t of shown)
      console.log(
        `  ${(t.thread === 1 ? 'event loop' : `thread ${t.thread}`).padEnd(11)} ${perReq(t.total).padStart(11)}  (${t.top[0]?.fn ?? '-'})`,
      );
    console.log(`  ${'process'.padEnd(11)} ${perReq(all).padStart(11)}`);
    const loop = threads.find((t) => t.thread === 1)!; // checked above
    const k = loop.kinds;
    console.log(
      `the event loop: compiled JavaScript ${perReq(k.javascript)}, V8's builtins ${perReq(k.builtins)}, native code ${perReq(k.native)} (V8's runtime and collector, Node, OpenSSL), unnamed ${perReq(k.unnamed)}`,
    );
    const { stdout: annotated } = await run(
      'callgrind_annotate',
      ['--inclusive=yes', '--auto=no', '--threshold=100', join(out, files.find((f) => f.endsWith('-01'))!)],
      { maxBuffer: 256 << 20 },
    );
    console.log(
      `of which V8 compiling on it ${perReq(compileShare(annotated))}; the window took ${(ms / 1000).toFixed(1)} s (${((ops * 1000) / Math.max(ms, 1)).toFixed(0)} requests a second): what runs on a timer or expires lands on that many requests, not on a full-speed second's`,
    );
    console.log("the event loop's costliest functions, instructions a request (self; JavaScript by V8's name for it):");
    for (const f of loop.top) console.log(`  ${perReq(f.ir).padStart(11)}  ${f.fn}`);
    return 0;
  } finally {
    const map = `/tmp/perf-${pid}.map`;
    if (process.env.KEEP) {
      if (existsSync(map)) copyFileSync(map, join(out, `perf-${pid}.map`));
      console.log(`callgrind's files and V8's map of compiled code are in ${out}`);
    } else rmSync(out, { recursive: true, force: true });
    if (pid) rmSync(map, { force: true });
  }
}

/** A thread's instructions and, by callgrind_annotate, its costliest functions (compiled JavaScript named). */
async function thread(file: string, names: Names) {
  const total = Number(/^summary: (\d+)$/m.exec(readFileSync(file, 'utf8'))?.[1] ?? 0);
  const { stdout } = await run('callgrind_annotate', ['--threshold=100', file], { maxBuffer: 256 << 20 });
  const self = new Map<string, number>();
  // Self costs: a recursion's levels are each their own share, so all are added.
  for (const { ir, fn } of annotatedCosts(stdout)) {
    const name = /^0x[0-9a-f]+$/.test(fn) ? (names(Number(fn)) ?? fn) : fn;
    self.set(name, (self.get(name) ?? 0) + ir);
  }
  const top = [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 15)
    .map(([fn, ir]) => ({ ir, fn: fn.slice(0, 110) }));
  const kinds = { javascript: 0, builtins: 0, unnamed: 0, native: 0 };
  for (const [fn, ir] of self)
    kinds[
      /^(JS|RegExp|Eval|Script):/.test(fn)
        ? 'javascript'
        : /^(Builtins_|Builtin:|BytecodeHandler:|Stub:)/.test(fn)
          ? 'builtins'
          : /^0x/.test(fn)
            ? 'unnamed'
            : 'native'
    ] += ir;
  return { total, top, kinds };
}

/** Under callgrind: the row's load, warm-up, then instrumentation on for `requests` requests. */
async function counted() {
  // Time crawls here: the journal goes into the store by full statements (its `maxBatch`, as under
  // load), not every `drainMs`, which here would mean statements of a few events.
  JOURNAL_DEFAULTS.drainMs = 2 ** 31 - 1;
  const bench = await DIALECTS[suite]!.setup(32);
  let reference: Awaited<ReturnType<typeof referenceServer>> | undefined;
  let served = '';
  try {
    const row = bench.plan.rows.find((r) => r.scenario === scenario);
    if (!row) throw new Error(`the rows of ${suite}: ${bench.plan.rows.map((r) => r.scenario).join(', ')}`);
    let { port } = bench.plan;
    let request = row.subject;
    const refName = process.env.REFERENCE;
    if (refName) {
      const ref = row.references.find((r) => r.name === refName);
      if (!ref) throw new Error(`the references of ${scenario}: ${row.references.map((r) => r.name).join(', ')}`);
      const { plan } = bench;
      const ca = await loadCa({ certPem: plan.ca.certPem, keyPkcs8Der: Buffer.from(plan.ca.key, 'base64') });
      reference = await referenceServer(ca, plan.mtls, DIALECTS[suite]!.referenceOps(plan.material));
      port = reference.port;
      request = ref.request;
      served = ref.name;
    }
    // A process of its own (any CPU): valgrind runs one thread of a process at a time.
    const cpus = Array.from({ length: availableParallelism() }, (_, i) => i);
    // A request can wait seconds here: connections stay open however long they are idle (the gateway's
    // keep-alive outlasts the run), so no handshake falls in the window.
    const client = new RemoteClient(port, bench.plan.tls, 32, { cpus, staleMs: 86_400_000 });
    try {
      const load = client.load(request);
      const day = 86_400_000;
      // JavaScript compiled and optimised before the window, as after the first seconds of a timed run.
      if (warmup) await load.measure(32, day, warmup * requests);
      await bench.settle();
      await run('callgrind_control', ['--instr=on', String(process.pid)]);
      const t0 = Date.now();
      const m = await load.measure(32, day, requests);
      await bench.settle();
      const ms = Date.now() - t0;
      await run('callgrind_control', ['--dump', String(process.pid)]);
      await run('callgrind_control', ['--instr=off', String(process.pid)]);
      // V8 writes its map a line at a time: its length now is the map as the window closed.
      const mapBytes = statSync(`/tmp/perf-${process.pid}.map`, { throwIfNoEntry: false })?.size ?? 0;
      console.log(JSON.stringify({ ops: m.ops, ms, served, mapBytes }));
    } finally {
      await client.close();
    }
  } finally {
    try {
      await reference?.close();
    } finally {
      await bench.close();
    }
  }
}
