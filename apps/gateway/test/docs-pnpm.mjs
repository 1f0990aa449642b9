#!/usr/bin/env node
// The `pnpm` the documentation test puts first on PATH (see docs.test.ts). `pnpm polykms ...` runs the
// polykms bin, as the root package's script does. `pnpm start` starts the gateway in the background
// (replacing the one running) and returns once it is ready: where the guide says "start the gateway",
// the reader gets a terminal of its own, the test gets its gateway back. Anything else is refused.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { get } from 'node:https';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(import.meta.url), '../../../..');
const bin = join(root, 'apps/gateway/bin/polykms.mjs');
const [cmd, ...args] = process.argv.slice(2);
const env = { ...process.env };
// Not a package manager's child: the gateway must not watch for a launcher that exits at once.
delete env.npm_lifecycle_event;

if (cmd === 'polykms') {
  const r = spawnSync(process.execPath, [bin, ...args], { stdio: 'inherit', env });
  process.exit(r.status ?? 1);
}
if (cmd !== 'start') {
  process.stderr.write(`pnpm (documentation test): only 'pnpm polykms ...' and 'pnpm start' are available here, not '${cmd}'\n`);
  process.exit(2);
}

const state = env.DOCTEST_STATE_DIR;
if (!state) throw new Error('DOCTEST_STATE_DIR is not set');
const pidFile = join(state, 'gateway.pid');
const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

if (existsSync(pidFile)) {
  const pid = Number(readFileSync(pidFile, 'utf8'));
  if (alive(pid)) {
    process.kill(pid, 'SIGTERM');
    for (const end = Date.now() + 60_000; alive(pid); await sleep(100))
      if (Date.now() > end) throw new Error(`gateway ${pid} did not stop`);
  }
}
const log = openSync(join(state, 'gateway.log'), 'a');
const child = spawn(process.execPath, [bin, 'serve'], { env, detached: true, stdio: ['ignore', log, log] });
writeFileSync(pidFile, String(child.pid));
child.unref();

const dataDir = env.POLYKMS_DATA_DIR ?? 'data';
const ready = () =>
  new Promise((r) => {
    const caFile = join(dataDir, 'ca.pem');
    if (!existsSync(caFile)) return r(false);
    const req = get(`https://localhost:${env.POLYKMS_ADMIN_PORT ?? 8440}/readyz`, { ca: readFileSync(caFile), agent: false }, (res) => {
      res.resume();
      r(res.statusCode === 200);
    });
    req.on('error', () => r(false));
  });
for (const end = Date.now() + 120_000; !(await ready()); await sleep(250)) {
  if (child.exitCode !== null || !alive(child.pid)) {
    process.stderr.write(`the gateway exited at start; its log:\n${readFileSync(join(state, 'gateway.log'), 'utf8').slice(-3000)}\n`);
    process.exit(1);
  }
  if (Date.now() > end) throw new Error('the gateway was not ready within 120 s');
}
process.exit(0);
