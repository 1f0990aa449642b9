import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kms } from '@polykms/core';
import { openTestKms } from '@polykms/core/testing';
import { P1, world, type World } from './setup.ts';

/** The README's user-guide blocks marked `<!-- runnable -->`, in order, as one shell script. */
const README = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const blocks = [...README.matchAll(/<!-- runnable -->\n```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);

describe.skipIf(spawnSync('sh', ['-c', 'command -v curl && command -v jq']).status !== 0)('the README user guide, run with curl and jq', () => {
  let kms: Kms;
  let drop: () => Promise<void>;
  let w: World;
  let dir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    ({ kms, drop } = await openTestKms('pglite'));
    w = await world(kms);
    const mk = async (name: string, role: string) => (await w.admin('POST', '/admin/huawei/users', { domain: 'acme', name, password: `${name}-password`, projects: [{ id: P1, roles: [role] }] })).json.id as string;
    await mk('alice', 'KMS Administrator');
    const bob = await mk('bob', 'KMS CMKReadOnlyAccess');
    dir = mkdtempSync(join(tmpdir(), 'polykms-readme-'));
    writeFileSync(join(dir, 'ca.pem'), w.ca);
    env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, KMS: `https://localhost:${w.server.port}`, CA: join(dir, 'ca.pem'), PROJECT: P1, BOB_ID: bob };
  });
  afterAll(async () => {
    await w?.server.close();
    await kms?.close();
    await drop?.();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** All blocks in one shell (later blocks use what earlier ones set); the listener is in this process, so never a sync spawn. */
  const runAll = () =>
    new Promise<{ err: Error | null; stdout: string; stderr: string }>((resolve) => {
      execFile('bash', ['-c', `set -euo pipefail\n${blocks.join('\n')}`], { env, cwd: dir, encoding: 'utf8', timeout: 120_000 }, (err, stdout, stderr) => resolve({ err, stdout, stderr }));
    });

  it('runs every block, and each prints what the README says', async () => {
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    const { err, stdout: out, stderr } = await runAll();
    expect(err, `${out}\n${stderr}`).toBeNull();
    // A token, and a call with it.
    expect(out).toMatch(/^2$/m);
    // Grants.
    expect(out).toMatch(/KMS\.0306.* <- refused\n/);
    expect(out).toMatch(/^hello$/m);
    expect(out).toContain(`{"grantee_principal":"${env.BOB_ID}","operations":["encrypt-data","decrypt-data"]}`);
    expect(out).toMatch(/KMS\.0306.* <- refused again\n/);
    // Aliases.
    expect(out).toContain(`kms:${P1}:`);
    expect(out).toMatch(/:alias:alias\/payments\n/);
    expect(out).toMatch(/^alias\/payments$/m);
    expect(out.match(/^true$/gm)).toHaveLength(2);
    expect(out).toMatch(/^\{\}$/m);
  }, 180_000);
});
