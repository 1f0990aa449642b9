import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const script = new URL('./profile.ts', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'polykms-profile-test-'));
// Its stores go into `dir` (TMPDIR), where a test sees what a run left behind.
const stores = mkdtempSync(join(dir, 'stores-'));
// The run's own settings only; its store is PGlite, a directory that can be seen removed.
const inherited = { ...process.env };
for (const k of ['PROFILE', 'ALLOC', 'THREADS', 'REFERENCE', 'RATE', 'LOAD_CPUS', 'DATABASE_URL']) delete inherited[k];
const profile = (env: Record<string, string>, ...args: string[]) =>
  run(process.execPath, ['--import', 'tsx', script, ...args], {
    env: { ...inherited, TMPDIR: stores, POLYKMS_BACKGROUND_NICE: '0', ...env },
    timeout: 120_000,
  });
const refusal = (env: Record<string, string>, ...args: string[]) =>
  profile(env, ...args).then(
    () => expect.unreachable('the run was not refused'),
    (e) => e as { code: number; stderr: string },
  );
const leftBehind = () => readdirSync(stores).filter((f) => f.startsWith('polykms-bench-'));
/** The store a run said it set up, which must be inside `stores` and gone once the run ended. */
const removedStore = (stderr: string) => {
  const dir = /storage pglite in (\S+)/.exec(stderr)?.[1];
  return dir !== undefined && dir.startsWith(`${stores}/`) && !existsSync(dir);
};

/** `bench/profile.ts`, as the README gives it: a row of a suite, profiled, and a reference of that row. */
describe('bench/profile.ts', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('profiles a row: CPU a request, self time and allocations by function, the profile written', async () => {
    const file = join(dir, 'enc.cpuprofile');
    const { stdout, stderr } = await profile({ PROFILE: file, ALLOC: '1', THREADS: '1' }, 'ovh', 'ovh.encrypt.1KiB', '1000');
    expect(stdout).toMatch(/^CPU us a request by thread: .*\bmain=\d+/m);
    expect(stdout).toMatch(/^CPU us a request: event loop \d+ process/m);
    expect(stdout).toMatch(/event loop, self time a request \(us\) by function:\n(\s+[\d.]+\s+.+\n)+/);
    expect(stdout).toMatch(/allocated, bytes a request by function:\n\s+\d+\s+\(all\)/);
    expect(stdout).toMatch(/^stalls of 15 ms or more \(\d+\)/m);
    expect(stdout).toMatch(/^ovh\.encrypt\.1KiB \d+ req\/s, p50 [\d.]+ p99 [\d.]+ ms$/m);
    // The dialect's own code was sampled on the event loop.
    const written = JSON.parse(readFileSync(file, 'utf8'));
    expect(written.nodes.some((n: any) => n.callFrame.url.includes('/apps/ovh/'))).toBe(true);
    expect(removedStore(stderr)).toBe(true);
  }, 180_000);

  it("profiles a row's reference instead, at a fixed rate", async () => {
    const { stdout, stderr } = await profile({ REFERENCE: 'AES-GCM alone over mTLS', RATE: '500' }, 'ovh', 'ovh.encrypt.1KiB', '300');
    const rate = /^AES-GCM alone over mTLS (\d+) req\/s/m.exec(stdout);
    expect(rate).not.toBeNull();
    // An open loop starts no more than were due: 500 a second, one more at most in 300 ms.
    expect(Number(rate![1])).toBeGreaterThan(0);
    expect(Number(rate![1])).toBeLessThanOrEqual(504);
    expect(removedStore(stderr)).toBe(true);
  }, 180_000);

  it('refuses an unknown suite, row or reference with the choices, and leaves no store behind', async () => {
    const suite = await refusal({}, 'nope', 'x');
    expect(suite.code).toBe(2);
    expect(suite.stderr).toMatch(/usage: profile\.ts <[a-z|]*ovh[a-z|]*> <row> \[ms\]/);
    const row = await refusal({}, 'ovh', 'nope');
    expect(row.code).toBe(2);
    expect(row.stderr).toContain('the rows of ovh: ovh.encrypt.1KiB, ');
    expect(removedStore(row.stderr)).toBe(true);
    const ref = await refusal({ REFERENCE: 'nothing' }, 'ovh', 'ovh.encrypt.1KiB');
    expect(ref.code).toBe(2);
    expect(ref.stderr).toContain('the references of ovh.encrypt.1KiB: AES-GCM alone over mTLS, echo over mTLS');
    expect(removedStore(ref.stderr)).toBe(true);
    const rate = await refusal({ RATE: 'Infinity' }, 'ovh', 'ovh.encrypt.1KiB');
    expect(rate.code).toBe(2);
    expect(rate.stderr).toContain("RATE is requests a second, a positive number; got 'Infinity'");
    expect(removedStore(rate.stderr)).toBe(true);
    expect(leftBehind()).toEqual([]);
  }, 240_000);
});
