import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const script = new URL('./profile.ts', import.meta.url).pathname;
const profile = (env: Record<string, string>, ...args: string[]) =>
  run(process.execPath, ['--import', 'tsx', script, ...args], {
    env: { ...process.env, POLYKMS_BACKGROUND_NICE: '0', ...env },
    timeout: 240_000,
  });

/** `bench/profile.ts`, as the README gives it: a row of a suite, profiled, and a reference of that row. */
describe('bench/profile.ts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'polykms-profile-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('profiles a row: CPU a request, self time and allocations by function, the profile written', async () => {
    const file = join(dir, 'enc.cpuprofile');
    const { stdout } = await profile({ PROFILE: file, ALLOC: '1', THREADS: '1' }, 'ovh', 'ovh.encrypt.1KiB', '400');
    expect(stdout).toMatch(/^CPU us a request by thread: loop=\d+/m);
    expect(stdout).toMatch(/^CPU us a request: event loop \d+ process/m);
    // The handler of the row was sampled on the event loop, and allocated.
    expect(stdout).toMatch(/event loop, self time a request \(us\) by function:\n(\s+[\d.]+\s+.+\n)+/);
    expect(stdout).toMatch(/allocated, bytes a request by function:\n\s+\d+\s+\(all\)/);
    expect(stdout).toMatch(/^stalls of 15 ms or more \(\d+\)/m);
    expect(stdout).toMatch(/^ovh\.encrypt\.1KiB \d+ req\/s, p50 [\d.]+ p99 [\d.]+ ms$/m);
    const written = JSON.parse(readFileSync(file, 'utf8'));
    expect(written.nodes.some((n: any) => n.callFrame.url.endsWith('servicekey.ts'))).toBe(true);
  }, 300_000);

  it("profiles a row's reference instead, and names the choices when one is unknown", async () => {
    const { stdout } = await profile({ REFERENCE: 'AES-GCM alone over mTLS' }, 'ovh', 'ovh.encrypt.1KiB', '300');
    expect(stdout).toMatch(/^AES-GCM alone over mTLS \d+ req\/s/m);
    const refused = await profile({ REFERENCE: 'nothing' }, 'ovh', 'ovh.encrypt.1KiB', '300').catch((e) => e);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('the references of ovh.encrypt.1KiB: AES-GCM alone over mTLS, echo over mTLS');
  }, 300_000);
});
