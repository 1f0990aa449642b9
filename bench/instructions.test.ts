import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const script = new URL('./instructions.ts', import.meta.url).pathname;
const haveValgrind = spawnSync('valgrind', ['--version']).status === 0;
const perfMaps = () => readdirSync('/tmp').filter((f) => /^perf-\d+\.map$/.test(f));

/** `bench/instructions.ts`, as the README gives it, on few requests. */
describe.skipIf(!haveValgrind)('bench/instructions.ts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'polykms-instructions-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('counts a row: instructions a request by thread, compiled JavaScript named, nothing left behind', async () => {
    const mapsBefore = perfMaps();
    const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: dir };
    delete env.KEEP;
    delete env.DATABASE_URL;
    const { stdout } = await run(process.execPath, ['--import', 'tsx', script, 'ovh', 'ovh.encrypt.1KiB', '64'], {
      env,
      timeout: 840_000,
    });
    expect(stdout).toMatch(/^ovh\.encrypt\.1KiB: 64 requests; instructions a request by thread/m);
    const loop = Number(/^ {2}event loop +([\d,]+)/m.exec(stdout)?.[1]?.replaceAll(',', ''));
    const all = Number(/^ {2}process +([\d,]+)/m.exec(stdout)?.[1]?.replaceAll(',', ''));
    expect(loop).toBeGreaterThan(10_000);
    expect(all).toBeGreaterThanOrEqual(loop);
    // V8's map named the compiled JavaScript (an address is all callgrind knows of it).
    const kinds = /^the event loop: compiled JavaScript ([\d,]+), .* unnamed ([\d,]+)$/m.exec(stdout);
    const [js, unnamed] = [kinds?.[1], kinds?.[2]].map((n) => Number(n?.replaceAll(',', '')));
    expect(js).toBeGreaterThan(0);
    expect(unnamed).toBeLessThan(loop / 20);
    // What V8 compiled in the window, and how long the window took (what expires on a clock counts by it).
    const compiling = Number(
      /^of which V8 compiling on it ([\d,]+); the window took \d+\.\d s \(\d+ requests a second\)/m.exec(stdout)?.[1]?.replaceAll(',', ''),
    );
    expect(compiling).toBeGreaterThanOrEqual(0);
    expect(compiling).toBeLessThan(loop);
    const top = stdout.slice(stdout.indexOf("the event loop's costliest functions"));
    expect(top).toMatch(/^ +[\d,]+ {2}\S/m);
    // The connections of the warm-up were kept: no TLS handshake (its bignum arithmetic) in the window.
    expect(top).not.toMatch(/bn_mul|ecp_nistz256|BN_/);
    // Its callgrind files and bench store (TMPDIR), and V8's map (always in /tmp), are gone: a new map
    // may only be a live process's (another run's).
    expect(readdirSync(dir).filter((f) => f.startsWith('polykms-'))).toEqual([]);
    const left = perfMaps().filter((f) => !mapsBefore.includes(f) && !existsSync(`/proc/${f.slice(5, -4)}`));
    expect(left).toEqual([]);
  }, 900_000);

  it("counts a row's reference server instead with REFERENCE, and says so", async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: dir, REFERENCE: 'AES-GCM alone over mTLS' };
    delete env.KEEP;
    delete env.DATABASE_URL;
    const { stdout } = await run(process.execPath, ['--import', 'tsx', script, 'ovh', 'ovh.encrypt.1KiB', '64'], {
      env,
      timeout: 840_000,
    });
    expect(stdout).toMatch(/^ovh\.encrypt\.1KiB \(reference: AES-GCM alone over mTLS\): 64 requests; instructions a request by thread/m);
    expect(Number(/^ {2}event loop +([\d,]+)/m.exec(stdout)?.[1]?.replaceAll(',', ''))).toBeGreaterThan(10_000);
    expect(readdirSync(dir).filter((f) => f.startsWith('polykms-'))).toEqual([]);
  }, 900_000);

  it('refuses a reference the row does not have, naming those it has', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: dir, REFERENCE: 'no such reference' };
    delete env.KEEP;
    delete env.DATABASE_URL;
    const r = await run(process.execPath, ['--import', 'tsx', script, 'ovh', 'ovh.encrypt.1KiB', '8'], { env, timeout: 840_000 }).then(
      () => undefined,
      (e: { code?: number; stderr?: string }) => e,
    );
    expect(r?.code).not.toBe(0);
    expect(r?.stderr).toContain('the references of ovh.encrypt.1KiB: AES-GCM alone over mTLS');
    expect(readdirSync(dir).filter((f) => f.startsWith('polykms-'))).toEqual([]);
  }, 900_000);

  it('refuses a warm-up that is not a whole number, before starting valgrind', async () => {
    const r = await run(process.execPath, ['--import', 'tsx', script, 'ovh', 'ovh.encrypt.1KiB', '8'], {
      env: { ...process.env, TMPDIR: dir, WARMUP: 'lots' },
      timeout: 120_000,
    }).then(
      () => undefined,
      (e: { code?: number; stderr?: string }) => e,
    );
    expect(r?.code).toBe(2);
    expect(r?.stderr).toMatch(/^usage: \[WARMUP=<whole number>\] instructions\.ts/m);
    expect(readdirSync(dir).filter((f) => f.startsWith('polykms-'))).toEqual([]);
  }, 180_000);
});
