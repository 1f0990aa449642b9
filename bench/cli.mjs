// How long a `polykms` call takes next to a bare `node -e 0`, measured side by side in one run:
// the rounds alternate the commands so that a busy machine slows them all alike.
//   node bench/cli.mjs [--rounds 20] [--tsx]   (--tsx adds the TypeScript sources run through tsx)
// `key list` goes through a gateway this script starts on free ports with a throwaway data directory.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '20' }, tsx: { type: 'boolean' } } });
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'apps/gateway/bin/polykms.mjs');
const freePort = () =>
  new Promise((r) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => r(port));
    });
  });

const dir = mkdtempSync(join(tmpdir(), 'polykms-bench-cli-'));
const env = { ...process.env, POLYKMS_DATA_DIR: join(dir, 'data'), POLYKMS_LOG_LEVEL: 'warn' };
for (const p of ['ADMIN', 'OVH', 'HUAWEI', 'CSE']) env[`POLYKMS_${p}_PORT`] = String(await freePort());
spawnSync(process.execPath, [bin, '--help'], { env, stdio: 'ignore' }); // compiles if a source changed
const gw = spawn(process.execPath, [bin, 'serve'], { env, stdio: 'ignore' });
try {
  for (let i = 0; ; i++) {
    if (
      await fetch(`http://127.0.0.1:${env.POLYKMS_ADMIN_PORT}/readyz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    if (i > 600) throw new Error('the gateway did not start');
    await new Promise((r) => setTimeout(r, 200));
  }
  const setup = spawnSync(process.execPath, [bin, 'tenant', 'create', 'bench'], { env, encoding: 'utf8' });
  if (setup.status !== 0) throw new Error(setup.stderr);
  spawnSync(process.execPath, [bin, 'key', 'create', '--tenant', 'bench', '--name', 'k', '--type', 'oct'], { env });

  const cases = {
    'node -e 0': [process.execPath, ['-e', '0']],
    'polykms --help': [process.execPath, [bin, '--help']],
    'polykms key list (gateway running)': [process.execPath, [bin, 'key', 'list', '--tenant', 'bench']],
  };
  if (values.tsx) {
    const cli = join(root, 'apps/gateway/src/cli.ts');
    cases['tsx: polykms --help'] = [process.execPath, ['--import', 'tsx', cli, '--help']];
    cases['tsx: polykms key list'] = [process.execPath, ['--import', 'tsx', cli, 'key', 'list', '--tenant', 'bench']];
  }
  const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  for (let round = 0; round < Number(values.rounds); round++)
    for (const [name, [cmd, args]] of Object.entries(cases)) {
      const t = process.hrtime.bigint();
      const r = spawnSync(cmd, args, { env, cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
      if (r.status !== 0) throw new Error(`${name}: exit ${r.status}: ${r.stderr}`);
      times[name].push(Number(process.hrtime.bigint() - t) / 1e6);
    }
  const q = (xs, f) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(f * xs.length))];
  const base = q(times['node -e 0'], 0.5);
  console.log(`${'command'.padEnd(38)} ${'median ms'.padStart(10)} ${'p90 ms'.padStart(8)} ${'x node -e 0'.padStart(12)}`);
  for (const [name, xs] of Object.entries(times))
    console.log(
      `${name.padEnd(38)} ${q(xs, 0.5).toFixed(0).padStart(10)} ${q(xs, 0.9).toFixed(0).padStart(8)} ${(q(xs, 0.5) / base).toFixed(2).padStart(12)}`,
    );
} finally {
  gw.kill('SIGTERM');
  await new Promise((r) => gw.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}
