import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backgroundNice } from './threads.mjs';

// In a child process, so the test sees one process's threads from its start.
const script = `
import { readdirSync } from 'node:fs';
import { readlink } from 'node:fs/promises';
import { getPriority } from 'node:os';
import { favourEventLoop, backgroundNice } from ${JSON.stringify(new URL('./threads.mjs', import.meta.url).href)};
import { offload } from ${JSON.stringify(new URL('./offload.ts', import.meta.url).href)};
import { generateKeyPairDetached } from ${JSON.stringify(new URL('../keypair.ts', import.meta.url).href)};
const nices = () => Object.fromEntries(readdirSync('/proc/self/task').map((t) => [t, getPriority(Number(t))]));
const before = nices();
const lowered = await favourEventLoop();
// The threads that run pool work from now on, and a crypto worker started afterwards. As favourEventLoop
// does: on a busy machine the first thread awake can take a whole round, and a pause lets it sleep again.
const pool = new Set();
for (let i = 0; i < 500 && pool.size < Number(process.env.UV_THREADPOOL_SIZE); i++) {
  for (const l of await Promise.all(Array.from({ length: 12 }, () => readlink('/proc/thread-self')))) pool.add(l.split('/').pop());
  await new Promise((r) => setTimeout(r, 2));
}
const { privateKey } = generateKeyPairDetached('rsa', { modulusLength: 1024 });
await offload({ op: 'privateEncrypt', key: privateKey, padding: 1, data: Buffer.alloc(10) });
console.log(JSON.stringify({ before, after: nices(), pool: [...pool], lowered, pid: process.pid, nice: backgroundNice() }));
process.exit(0);
`;

function child(env: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), 'polykms-threads-'));
  try {
    writeFileSync(join(dir, 'child.mjs'), script);
    const base: Record<string, string | undefined> = { ...process.env, UV_THREADPOOL_SIZE: '3' };
    delete base.POLYKMS_BACKGROUND_NICE;
    const out = execFileSync(process.execPath, ['--import', 'tsx', join(dir, 'child.mjs')], {
      encoding: 'utf8',
      env: { ...base, ...env },
    });
    return JSON.parse(out.trim().split('\n').pop()!) as {
      before: Record<string, number>;
      after: Record<string, number>;
      pool: string[];
      lowered: number;
      pid: number;
      nice: number;
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('POLYKMS_BACKGROUND_NICE', () => {
  it('is 10 unless set, 0 to 19, and refuses anything else with a message naming it', () => {
    // Off by default on a single CPU, where the event loop would starve the crypto it waits for.
    const byDefault = availableParallelism() < 2 ? 0 : 10;
    expect(backgroundNice({})).toBe(byDefault);
    expect(backgroundNice({ POLYKMS_BACKGROUND_NICE: '' })).toBe(byDefault);
    expect(backgroundNice({ POLYKMS_BACKGROUND_NICE: '0' })).toBe(0);
    expect(backgroundNice({ POLYKMS_BACKGROUND_NICE: '19' })).toBe(19);
    for (const bad of ['20', '-1', '5.5', 'high', '0x5'])
      expect(() => backgroundNice({ POLYKMS_BACKGROUND_NICE: bad })).toThrow(
        /POLYKMS_BACKGROUND_NICE must be a whole number from 0 \(off\) to 19/,
      );
  });
});

describe.skipIf(!existsSync('/proc/thread-self') || availableParallelism() < 2)('thread priorities', () => {
  for (const [setting, step] of [
    [undefined, 10],
    ['7', 7],
  ] as const) {
    it(`libuv's pool and the crypto workers run ${step} nice levels below the event loop; V8's helpers do not`, () => {
      const { before, after, pool, lowered, pid, nice: got } = child(setting ? { POLYKMS_BACKGROUND_NICE: setting } : {});
      expect(got).toBe(step);
      // Relative to the event loop's own level, whatever the test runner was started with.
      const main = before[String(pid)]!;
      const nice = Math.min(19, main + step);
      expect(Object.values(before).every((n) => n === main)).toBe(true);
      expect(after[String(pid)]).toBe(main);
      // libuv's whole pool (UV_THREADPOOL_SIZE=3), and only it, was lowered.
      expect(lowered).toBe(3);
      expect(pool.length).toBe(3);
      expect(
        pool.every((t) => after[t] === nice),
        JSON.stringify({ after, pool }),
      ).toBe(true);
      // The crypto worker started later lowered itself.
      const started = Object.keys(after).filter((t) => !(t in before));
      expect(started.length).toBeGreaterThan(0);
      expect(
        started.every((t) => after[t] === nice),
        JSON.stringify({ after, started }),
      ).toBe(true);
      // V8's helper threads (garbage collection waits for them) keep the event loop's priority.
      const rest = Object.keys(after).filter((t) => t !== String(pid) && !pool.includes(t) && !started.includes(t));
      expect(rest.length).toBeGreaterThan(0);
      expect(rest.every((t) => after[t] === main)).toBe(true);
    });
  }

  it('POLYKMS_BACKGROUND_NICE=0 leaves every thread where it was', () => {
    const { after, lowered, pid } = child({ POLYKMS_BACKGROUND_NICE: '0' });
    expect(lowered).toBe(0);
    expect(
      Object.values(after).every((n) => n === after[String(pid)]),
      JSON.stringify(after),
    ).toBe(true);
  });
});
