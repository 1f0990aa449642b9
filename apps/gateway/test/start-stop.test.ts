/**
 * The README's start command, `npx -y pnpm@10.34.9 install && npx -y pnpm@10.34.9 start`, stops the
 * gateway with it: SIGTERM (what `kill` and supervisors send) or SIGINT to the outermost process alone
 * frees the ports and the embedded database's lock, and leaves no gateway process behind.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@polykms/core/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { Agent, fetch as tlsFetch } from 'undici';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const README_START = 'npx -y pnpm@10.34.9 install && npx -y pnpm@10.34.9 start';

/** Processes (pid, command line) whose environment carries this data directory: the gateway and its wrappers. */
function processesUsing(dataDir: string) {
  const found: { pid: number; cmd: string }[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (readFileSync(`/proc/${p}/environ`, 'latin1').split('\0').includes(`POLYKMS_DATA_DIR=${dataDir}`))
        found.push({ pid: Number(p), cmd: readFileSync(`/proc/${p}/cmdline`, 'latin1').split('\0').join(' ').trim() });
    } catch {}
  }
  return found;
}

const portFree = (port: number) =>
  new Promise<boolean>((r) => {
    const s = createServer();
    s.once('error', () => r(false));
    s.listen(port, '127.0.0.1', () => s.close(() => r(true)));
  });

const until = async (what: string, check: () => boolean | Promise<boolean>, ms: number) => {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 250))) if (await check()) return;
  throw new Error(`timed out waiting for ${what}`);
};

describe.skipIf(process.platform !== 'linux')('stopping the README start command', () => {
  const dirs: string[] = [];
  const leftovers: number[] = [];
  afterAll(() => {
    for (const pid of leftovers) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  // The exact shell line from the README, found there so the test follows the README if it changes.
  it('is the command the README gives', () => {
    expect(readFileSync(join(root, 'README.md'), 'utf8')).toContain(README_START);
  });

  // SIGTERM to the outermost process alone (kill PID, a supervisor); SIGINT to the whole process
  // group, as Ctrl-C in a terminal sends it.
  for (const [signal, to] of [
    ['SIGTERM', 'the wrapper alone'],
    ['SIGINT', 'the process group (Ctrl-C)'],
  ] as const) {
    it(`${signal} to ${to} stops the gateway and frees its ports and the database lock`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'polykms-stop-'));
      dirs.push(dir);
      const dataDir = join(dir, 'data');
      const ports = { admin: await freePort(), ovh: await freePort(), huawei: await freePort(), cse: await freePort() };
      // The README's start command uses embedded PGlite: a DATABASE_URL from CI would point it at a shared database.
      const { DATABASE_URL: _db, ...inherited } = process.env;
      const env = {
        ...inherited,
        POLYKMS_DATA_DIR: dataDir,
        POLYKMS_ADMIN_PORT: String(ports.admin),
        POLYKMS_OVH_PORT: String(ports.ovh),
        POLYKMS_HUAWEI_PORT: String(ports.huawei),
        POLYKMS_CSE_PORT: String(ports.cse),
        POLYKMS_LOG_LEVEL: 'info',
      };
      // Its own process group and session, as a terminal would give it; the signal goes to the wrapper's pid only.
      const wrapper = spawn('sh', ['-c', README_START], {
        cwd: root,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      let logs = '';
      wrapper.stdout!.on('data', (d) => (logs += d));
      wrapper.stderr!.on('data', (d) => (logs += d));
      const wrapperExit = new Promise((r) => wrapper.on('exit', r));
      try {
        await until(
          'the gateway to be ready',
          () =>
            // The admin port is HTTPS under the gateway CA, which the gateway writes into its data directory.
            existsSync(join(dataDir, 'ca.pem'))
              ? tlsFetch(`https://127.0.0.1:${ports.admin}/readyz`, {
                  dispatcher: new Agent({ connect: { ca: readFileSync(join(dataDir, 'ca.pem'), 'utf8'), servername: 'localhost' } }),
                }).then(
                  (r) => r.ok,
                  () => false,
                )
              : false,
          240_000,
        );
      } catch (e) {
        throw new Error(`${(e as Error).message}\n${logs}`);
      }
      leftovers.push(...processesUsing(dataDir).map((p) => p.pid));

      if (signal === 'SIGINT') process.kill(-wrapper.pid!, signal);
      else {
        // npx (its process title is `npm exec ...`): the command the README starts the gateway with.
        const npx = processesUsing(dataDir).filter((p) => p.cmd.startsWith('npm exec'));
        expect(npx).toHaveLength(1);
        process.kill(npx[0]!.pid, signal);
      }

      await until('every gateway process to exit', () => processesUsing(dataDir).length === 0, 60_000);
      await wrapperExit;
      for (const [name, port] of Object.entries(ports)) expect(await portFree(port), `${name} port ${port} free`).toBe(true);
      // The lock is free: the CLI opens the same embedded database on its own.
      const r = spawnSync(process.execPath, ['apps/gateway/bin/polykms.mjs', 'tenant', 'list', '--json'], {
        cwd: root,
        env,
        encoding: 'utf8',
        timeout: 120_000,
      });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(logs).toMatch(/shutting down/);
    }, 360_000);
  }
});
