/** The installed `polykms` entry point, as an operator runs it (no gateway running: in-process on PGlite). */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { serveHttps } from '@polykms/http';
import { createCa, loadCa } from '@polykms/pki';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

describe('polykms CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'polykms-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  // Ports nobody listens on: the CLI works on the store itself.
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, POLYKMS_DATA_DIR: join(dir, 'data'), POLYKMS_ADMIN_PORT: '1', POLYKMS_LOG_LEVEL: 'error' };
  const run = (...args: string[]) => spawnSync(process.execPath, ['apps/gateway/bin/polykms.mjs', ...args], { cwd: root, env, encoding: 'utf8', timeout: 60_000 });

  it('explains itself: --help exits 0 and lists every command group', () => {
    const r = run('--help');
    expect(r.status).toBe(0);
    for (const c of ['serve', 'tenant link', 'root-key rotate', 'audit export', 'audit verify', 'ovh credential create', 'huawei user create', 'cse config init']) expect(r.stdout).toContain(c);
    expect(run('root-key', 'rotate', '--help').stdout).toMatch(/Safe to interrupt/);
  });

  it('refuses bad input with a clear message and a non-zero status', () => {
    const unknown = run('frobnicate');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain("polykms: unknown command 'frobnicate'");
    const noName = run('tenant', 'create');
    expect(noName.status).toBe(2);
    expect(noName.stderr).toContain('tenant create needs a NAME');
    const badOpt = run('tenant', 'list', '--no-such-option');
    expect(badOpt.status).toBe(2);
    expect(badOpt.stderr).toMatch(/Unknown option '--no-such-option'/);
    const badDialect = run('serve', '--dialect', 'aws');
    expect(badDialect.status).toBe(2);
    expect(badDialect.stderr).toMatch(/--dialect must list dialects among ovh, huawei, cse; got 'aws'/);
    const linkNothing = run('tenant', 'link', '--tenant', 'x');
    expect(linkNothing.status).toBe(2);
    const badBatch = run('root-key', 'rotate', '--batch', '0');
    expect(badBatch.status).toBe(2);
    expect(badBatch.stderr).toContain('--batch must be a positive integer');
  });

  it('prints JSON for scripts, exports the audit trail, verifies it, and rotates the root key with progress', () => {
    const t = JSON.parse(run('tenant', 'create', 'scripted', '--json').stdout);
    expect(t).toMatchObject({ name: 'scripted', id: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    const k = JSON.parse(run('key', 'create', '--tenant', 'scripted', '--name', 'k1', '--type', 'RSA', '--size', '2048', '--operation', 'sign', '--operation', 'verify', '--json').stdout);
    expect(k).toMatchObject({ name: 'k1', state: 'active' });
    const bad = run('key', 'create', '--tenant', 'scripted', '--name', 'k2', '--type', 'RSA', '--size', '1024');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/size/);
    expect(JSON.parse(run('key', 'list', '--tenant', 'scripted', '--json').stdout).map((x: { id: string }) => x.id)).toEqual([k.id]);
    const d = JSON.parse(run('ovh', 'domain', 'create', '--region', 'eu-west-gra', '--json').stdout);
    expect(d.region).toBe('eu-west-gra');
    expect(run('ovh', 'credential', 'create', '--domain', d.id, '--identity', 'urn:v1:eu:identity:account:xx1111-ovh', '--out', join(dir, 'c'), '--json').status).toBe(0);
    expect(statSync(join(dir, 'c.key')).mode & 0o777).toBe(0o600);
    const out = join(dir, 'audit.jsonl');
    const exp = run('audit', 'export', '--out', out, '--json');
    expect(exp.status, exp.stderr).toBe(0);
    const events = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(events.some((e) => e.action === 'credential.create')).toBe(true);
    expect(JSON.parse(exp.stdout).events).toBe(events.length);
    const v = JSON.parse(run('audit', 'verify', '--json').stdout);
    expect(v).toMatchObject({ ok: true, problems: [] });

    // Root-key rotation: the old key stays readable during the move, progress on stderr, then the new key alone works.
    const old = readFileSync(join(dir, 'data', 'root.key'), 'utf8').trim();
    const next = randomBytes(32).toString('base64');
    const rot = spawnSync(process.execPath, ['apps/gateway/bin/polykms.mjs', 'root-key', 'rotate'], { cwd: root, env: { ...env, POLYKMS_ROOT_KEY: next, POLYKMS_ROOT_KEYS_PREVIOUS: old }, encoding: 'utf8' });
    expect(rot.status, rot.stderr).toBe(0);
    expect(rot.stderr).toMatch(/re-wrapped 1\/1/);
    const after = spawnSync(process.execPath, ['apps/gateway/bin/polykms.mjs', 'ovh', 'domain', 'list', '--json'], { cwd: root, env: { ...env, POLYKMS_ROOT_KEY: next }, encoding: 'utf8' });
    expect(after.status, after.stderr).toBe(0);
    expect(JSON.parse(after.stdout).map((x: { id: string }) => x.id)).toContain(d.id);
    expect(JSON.parse(spawnSync(process.execPath, ['apps/gateway/bin/polykms.mjs', 'key', 'list', '--tenant', 'scripted', '--json'], { cwd: root, env: { ...env, POLYKMS_ROOT_KEY: next }, encoding: 'utf8' }).stdout)[0].id).toBe(k.id);
    const stale = run('tenant', 'list');
    expect(stale.status).toBe(1);
    expect(stale.stderr).toMatch(/not configured/);
  }, 240_000); // a dozen CLI processes, each starting tsx: ~80 s on a slow day of this 2-core machine

  // The admin token only goes to a listener whose certificate the gateway CA signed.
  it('never sends the admin token to an admin port it cannot verify against the gateway CA', async () => {
    const seen: string[] = [];
    const impostor = await serveHttps(
      async (req) => {
        seen.push(req.headers.get('authorization') ?? '-');
        return Response.json({ status: 'ok' });
      },
      await loadCa(await createCa({ commonName: 'polykms gateway CA', validityDays: 400 })),
      { host: '127.0.0.1', port: 0 },
    );
    try {
      const at = { ...env, POLYKMS_ADMIN_PORT: String(impostor.port), POLYKMS_ADMIN_TOKEN: 'cli-test-admin-token-0123456789' };
      const spawnAt = (extra: Record<string, string>) =>
        new Promise<{ status: number | null; stderr: string }>((res) => {
          const child = spawn(process.execPath, ['apps/gateway/bin/polykms.mjs', 'tenant', 'list'], { cwd: root, env: { ...at, ...extra }, stdio: ['ignore', 'ignore', 'pipe'] });
          let stderr = '';
          child.stderr.on('data', (d) => (stderr += d));
          child.on('exit', (status) => res({ status, stderr }));
        });
      // A gateway CA, but not the one that signed this listener.
      writeFileSync(join(dir, 'other-ca.pem'), (await loadCa(await createCa({ commonName: 'polykms gateway CA', validityDays: 400 }))).certPem);
      const other = await spawnAt({ POLYKMS_ADMIN_CA_FILE: join(dir, 'other-ca.pem') });
      expect(other.status, other.stderr).toBe(1);
      expect(other.stderr).toMatch(/cannot reach the admin API at https:\/\/127\.0\.0\.1:\d+: .*(certificate|self.signed)/);
      // No CA at all (none in the data directory: no gateway ever ran there).
      const none = await spawnAt({});
      expect(none.status, none.stderr).toBe(2);
      expect(none.stderr).toMatch(/a gateway is running at https:\/\/127\.0\.0\.1:\d+ but its CA certificate is not in .*data\/ca\.pem/);
      expect(seen).toEqual([]);
    } finally {
      await impostor.close();
    }
  }, 120_000);
});
