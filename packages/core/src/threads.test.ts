import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// In a child process, so the test sees one process's threads from its start.
const script = `
import { readdirSync } from 'node:fs';
import { getPriority } from 'node:os';
import { generateKeyPairSync, sign } from 'node:crypto';
import { favourEventLoop, BACKGROUND_NICE } from ${JSON.stringify(new URL('./threads.mjs', import.meta.url).href)};
import { offload } from ${JSON.stringify(new URL('./offload.ts', import.meta.url).href)};
const nices = () => Object.fromEntries(readdirSync('/proc/self/task').map((t) => [t, getPriority(Number(t))]));
const before = nices();
const lowered = await favourEventLoop();
// Work on libuv's pool and on a crypto worker started afterwards.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
await Promise.all([1, 2, 3, 4].map(() => new Promise((r) => sign('sha256', Buffer.alloc(1), privateKey, r))));
await offload({ op: 'privateEncrypt', key: privateKey, padding: 1, data: Buffer.alloc(10) });
console.log(JSON.stringify({ before, after: nices(), lowered, pid: process.pid, nice: BACKGROUND_NICE }));
process.exit(0);
`;

describe.skipIf(!existsSync('/proc/thread-self'))('thread priorities', () => {
  it('every thread but the event loop runs at the background nice level, including workers started later', () => {
    const dir = mkdtempSync(join(tmpdir(), 'polykms-threads-'));
    let out: unknown;
    try {
      writeFileSync(join(dir, 'child.mjs'), script);
      out = JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', join(dir, 'child.mjs')], { encoding: 'utf8' }).trim().split('\n').pop()!);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const { before, after, lowered, pid, nice } = out as { before: Record<string, number>; after: Record<string, number>; lowered: number; pid: number; nice: number };
    expect(nice).toBe(10);
    expect(Object.values(before).every((n) => n === 0)).toBe(true);
    expect(after[String(pid)]).toBe(0);
    const others = Object.entries(after).filter(([t]) => t !== String(pid));
    // libuv's pool (4 threads) and V8's helpers at least, all lowered, and the crypto worker too.
    expect(lowered).toBeGreaterThanOrEqual(5);
    expect(others.length).toBeGreaterThan(lowered);
    expect(others.every(([, n]) => n === nice), JSON.stringify(after)).toBe(true);
  });
});
