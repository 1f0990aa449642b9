// `sh bench/before.sh COMMIT DIR` prepares a checkout for `pnpm bench --before DIR`: its bench server
// must start and answer as the bench starts it (procs.ts), for a commit of today's layout too.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';

const run = promisify(execFile);
const root = new URL('..', import.meta.url).pathname;
const dir = join(mkdtempSync(join(tmpdir(), 'polykms-before-test-')), 'old');

afterAll(async () => {
  await run('git', ['worktree', 'remove', '--force', dir], { cwd: root }).catch(() => undefined);
  rmSync(join(dir, '..'), { recursive: true, force: true });
});

it('prepares a checkout of HEAD whose bench server starts and stops on request', async () => {
  await run('sh', ['bench/before.sh', 'HEAD', dir], { cwd: root, timeout: 240_000 });
  const child = spawn(process.execPath, ['--import', 'tsx', join(dir, 'bench', 'serve.ts')], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const first = await Promise.race([
    new Promise<unknown>((r) => child.once('message', r)),
    exited.then((code) => `exited (${code}) before it was ready: ${stderr}`),
  ]);
  expect(first).toEqual({ ready: true });
  child.send({ id: 0, call: 'close' });
  expect(await new Promise((r) => child.once('message', r))).toEqual({ id: 0 });
  child.disconnect();
  expect(await exited).toBe(0);
}, 300_000);
