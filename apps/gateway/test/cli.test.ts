/** The installed `polykms` entry point, as an operator runs it (no gateway running: in-process on PGlite). */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
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
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: dir,
    POLYKMS_DATA_DIR: join(dir, 'data'),
    POLYKMS_ADMIN_PORT: '1',
    POLYKMS_LOG_LEVEL: 'error',
  };
  const run = (...args: string[]) =>
    spawnSync(process.execPath, ['apps/gateway/bin/polykms.mjs', ...args], {
      cwd: root,
      env,
      encoding: 'utf8',
      timeout: 60_000,
    });

  it('explains itself: --help exits 0 and lists every command group', () => {
    const r = run('--help');
    expect(r.status).toBe(0);
    for (const c of [
      'serve',
      'tenant link',
      'root-key rotate',
      'audit export',
      'audit verify',
      'ovh credential create',
      'huawei user create',
      'cse config init',
    ])
      expect(r.stdout).toContain(c);
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
    const k = JSON.parse(
      run(
        'key',
        'create',
        '--tenant',
        'scripted',
        '--name',
        'k1',
        '--type',
        'RSA',
        '--size',
        '2048',
        '--operation',
        'sign',
        '--operation',
        'verify',
        '--json',
      ).stdout,
    );
    expect(k).toMatchObject({ name: 'k1', state: 'active' });
    const bad = run('key', 'create', '--tenant', 'scripted', '--name', 'k2', '--type', 'RSA', '--size', '1024');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/size/);
    expect(JSON.parse(run('key', 'list', '--tenant', 'scripted', '--json').stdout).map((x: { id: string }) => x.id)).toEqual([k.id]);
    const d = JSON.parse(run('ovh', 'domain', 'create', '--region', 'eu-west-gra', '--json').stdout);
    expect(d.region).toBe('eu-west-gra');
    expect(
      run(
        'ovh',
        'credential',
        'create',
        '--domain',
        d.id,
        '--identity',
        'urn:v1:eu:identity:account:xx1111-ovh',
        '--out',
        join(dir, 'c'),
        '--json',
      ).status,
    ).toBe(0);
    expect(statSync(join(dir, 'c.key')).mode & 0o777).toBe(0o600);
    const out = join(dir, 'audit.jsonl');
    const exp = run('audit', 'export', '--out', out, '--json');
    expect(exp.status, exp.stderr).toBe(0);
    const events = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(events.some((e) => e.action === 'credential.create')).toBe(true);
    expect(JSON.parse(exp.stdout).events).toBe(events.length);
    const v = JSON.parse(run('audit', 'verify', '--json').stdout);
    expect(v).toMatchObject({ ok: true, problems: [] });

    // Root-key rotation: the old key stays readable during the move, progress on stderr, then the new key alone works.
    const old = readFileSync(join(dir, 'data', 'root.key'), 'utf8').trim();
    const next = randomBytes(32).toString('base64');
    const rot = spawnSync(process.execPath, ['apps/gateway/bin/polykms.mjs', 'root-key', 'rotate'], {
      cwd: root,
      env: { ...env, POLYKMS_ROOT_KEY: next, POLYKMS_ROOT_KEYS_PREVIOUS: old },
      encoding: 'utf8',
    });
    expect(rot.status, rot.stderr).toBe(0);
    expect(rot.stderr).toMatch(/re-wrapped 1\/1/);
    const after = spawnSync(process.execPath, ['apps/gateway/bin/polykms.mjs', 'ovh', 'domain', 'list', '--json'], {
      cwd: root,
      env: { ...env, POLYKMS_ROOT_KEY: next },
      encoding: 'utf8',
    });
    expect(after.status, after.stderr).toBe(0);
    expect(JSON.parse(after.stdout).map((x: { id: string }) => x.id)).toContain(d.id);
    expect(
      JSON.parse(
        spawnSync(process.execPath, ['apps/gateway/bin/polykms.mjs', 'key', 'list', '--tenant', 'scripted', '--json'], {
          cwd: root,
          env: { ...env, POLYKMS_ROOT_KEY: next },
          encoding: 'utf8',
        }).stdout,
      )[0].id,
    ).toBe(k.id);
    const stale = run('tenant', 'list');
    expect(stale.status).toBe(1);
    expect(stale.stderr).toMatch(/not configured/);
  }, 240_000); // a dozen CLI processes, each opening the embedded database

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
      const at = {
        ...env,
        POLYKMS_ADMIN_PORT: String(impostor.port),
        POLYKMS_ADMIN_TOKEN: 'cli-test-admin-token-0123456789',
      };
      const spawnAt = (extra: Record<string, string>) =>
        new Promise<{ status: number | null; stderr: string }>((res) => {
          const child = spawn(process.execPath, ['apps/gateway/bin/polykms.mjs', 'tenant', 'list'], {
            cwd: root,
            env: { ...at, ...extra },
            stdio: ['ignore', 'ignore', 'pipe'],
          });
          let stderr = '';
          child.stderr.on('data', (d) => (stderr += d));
          child.on('exit', (status) => res({ status, stderr }));
        });
      // A gateway CA, but not the one that signed this listener.
      writeFileSync(
        join(dir, 'other-ca.pem'),
        (await loadCa(await createCa({ commonName: 'polykms gateway CA', validityDays: 400 }))).certPem,
      );
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

  // The tests below on a store of their own (the one above ends under a rotated root key).
  const env2 = { ...env, POLYKMS_DATA_DIR: join(dir, 'data2') };
  const run2 = (...args: string[]) =>
    spawnSync(process.execPath, ['apps/gateway/bin/polykms.mjs', ...args], {
      cwd: root,
      env: env2,
      encoding: 'utf8',
      timeout: 60_000,
    });

  it('answers a usage error with one line and a hint, exit 2, and as JSON under --json', () => {
    for (const args of [
      ['frobnicate'],
      ['tenant', 'create'],
      ['tenant', 'list', '--no-such-option'],
      ['ovh', 'domain', 'frob'],
      ['key', 'create', '--tenant', 't', '--name', 'k', '--type', 'DES'],
    ]) {
      const r = run(...args);
      expect(r.status, args.join(' ')).toBe(2);
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines, r.stderr).toHaveLength(2);
      expect(lines[0]).toMatch(/^polykms: /);
      expect(lines[1]).toBe("run 'polykms --help' for usage");
      expect(r.stdout).toBe('');
      const j = run(...args, '--json');
      expect(j.status).toBe(2);
      expect(JSON.parse(j.stderr)).toEqual({
        error: { kind: 'usage', message: lines[0]!.slice('polykms: '.length), hint: lines[1] },
      });
    }
  });

  it('creates keys with sensible defaults, HMAC keys too; a value the API refuses is a usage error, a refused operation is not', () => {
    const t = 'defaults';
    expect(run2('tenant', 'create', t).status).toBe(0);
    const oct = JSON.parse(run2('key', 'create', '--tenant', t, '--name', 'aes', '--type', 'oct', '--json').stdout);
    expect(oct).toMatchObject({ type: 'oct', size: 256, state: 'active' });
    const hmac = run2('key', 'create', '--tenant', t, '--name', 'mac', '--type', 'HMAC', '--size', '384', '--json');
    expect(hmac.status, hmac.stderr).toBe(0);
    expect(JSON.parse(hmac.stdout)).toMatchObject({ type: 'HMAC', size: 384 });
    expect(JSON.parse(run2('key', 'create', '--tenant', t, '--name', 'ec', '--type', 'EC', '--json').stdout)).toMatchObject({
      type: 'EC',
      curve: 'P-256',
    });
    // Refused by the admin API (an AES key does not sign): the value is wrong, exit 2.
    const refused = run2('key', 'create', '--tenant', t, '--name', 'x', '--type', 'oct', '--operation', 'sign', '--json');
    expect(refused.status, refused.stderr).toBe(2);
    expect(JSON.parse(refused.stderr).error).toMatchObject({ kind: 'usage', message: expect.stringMatching(/sign/) });
    // A well-formed request refused (no such tenant): exit 1, no usage hint.
    const missing = run2('key', 'list', '--tenant', 'no-such-tenant', '--json');
    expect(missing.status, missing.stderr).toBe(1);
    expect(JSON.parse(missing.stderr).error.kind).toBe('refused');
    expect(run2('key', 'list', '--tenant', 'no-such-tenant').stderr.trimEnd().split('\n')).toHaveLength(1);
  }, 120_000);

  it("changes a Huawei user's projects one at a time; replacing them all must be asked for", () => {
    const a = '0123456789abcdef0123456789abcdef';
    const b = 'fedcba9876543210fedcba9876543210';
    const c = '00112233445566778899aabbccddeeff';
    const u = JSON.parse(
      run2(
        'huawei',
        'user',
        'create',
        '--domain',
        'acme',
        '--name',
        'bob',
        '--password',
        'S3cret!pass',
        '--project',
        `${a}:KMS Administrator`,
        '--json',
      ).stdout,
    );
    const projects = () =>
      JSON.parse(run2('huawei', 'user', 'get', '--id', u.id, '--json').stdout)
        .projects.map((p: { id: string; roles: string[] }) => `${p.id}:${p.roles.join(',')}`)
        .sort();
    const add = run2('huawei', 'user', 'update', '--id', u.id, '--add-project', `${b}:KMS CMKReadOnlyAccess`);
    expect(add.status, add.stderr).toBe(0);
    expect(projects()).toEqual([`${a}:KMS Administrator`, `${b}:KMS CMKReadOnlyAccess`]);
    expect(run2('huawei', 'user', 'update', '--id', u.id, '--remove-project', a).status).toBe(0);
    expect(projects()).toEqual([`${b}:KMS CMKReadOnlyAccess`]);
    const unknown = run2('huawei', 'user', 'update', '--id', u.id, '--remove-project', c);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/has no project/);
    // --project alone used to replace the list silently: now refused, the user's projects untouched.
    const silent = run2('huawei', 'user', 'update', '--id', u.id, '--project', `${c}:KMS Administrator`);
    expect(silent.status).toBe(2);
    expect(silent.stderr).toMatch(/would replace every project/);
    expect(projects()).toEqual([`${b}:KMS CMKReadOnlyAccess`]);
    expect(run2('huawei', 'user', 'update', '--id', u.id, '--replace-projects', '--project', `${c}:KMS Administrator`).status).toBe(0);
    expect(projects()).toEqual([`${c}:KMS Administrator`]);
  }, 120_000);

  it('writes a new OVH credential into the data directory, not the working directory, unless --out says where', () => {
    const d = JSON.parse(run2('ovh', 'domain', 'create', '--json').stdout);
    const cwd = mkdtempSync(join(tmpdir(), 'polykms-cwd-'));
    try {
      const r = spawnSync(
        process.execPath,
        [
          join(root, 'apps/gateway/bin/polykms.mjs'),
          'ovh',
          'credential',
          'create',
          '--domain',
          d.id,
          '--identity',
          'urn:v1:eu:identity:account:xx1111-ovh',
          '--json',
        ],
        { cwd, env: env2, encoding: 'utf8', timeout: 60_000 },
      );
      expect(r.status, r.stderr).toBe(0);
      const c = JSON.parse(r.stdout);
      const prefix = join(dir, 'data2', 'credentials', c.id);
      expect(c.files).toEqual({ cert: `${prefix}.cert`, key: `${prefix}.key`, ca: `${prefix}.ca.pem` });
      expect(readFileSync(`${prefix}.cert`, 'utf8')).toBe(c.certificatePEM);
      expect(statSync(`${prefix}.key`).mode & 0o777).toBe(0o600);
      expect(statSync(join(dir, 'data2', 'credentials')).mode & 0o777).toBe(0o700);
      expect(readdirSync(cwd)).toEqual([]);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  }, 120_000);
  it('issues an OVH bearer token printed once (stdout alone), lists it without the secret, revokes it', () => {
    const d = JSON.parse(run2('ovh', 'domain', 'create', '--json').stdout);
    const made = run2('ovh', 'token', 'create', '--domain', d.id, '--identity', 'urn:v1:eu:identity:user:xx1111-ovh/ci', '--validity', '7');
    expect(made.status, made.stderr).toBe(0);
    const token = made.stdout.trim();
    expect(token).toMatch(/^polykms_ovh_[A-Za-z0-9_-]{43}$/);
    expect(made.stderr).toMatch(/shown once/);
    const list = run2('ovh', 'token', 'list', '--domain', d.id, '--json');
    expect(list.stdout).not.toContain(token.slice(12));
    const [t] = JSON.parse(list.stdout);
    expect(t).toMatchObject({ status: 'ACTIVE', identityURNs: ['urn:v1:eu:identity:user:xx1111-ovh/ci'], name: 'cli' });
    expect(Date.parse(t.expiresAt) - Date.parse(t.createdAt)).toBe(7 * 86_400_000);
    expect(run2('ovh', 'token', 'revoke', '--domain', d.id, '--id', t.id).status).toBe(0);
    expect(run2('ovh', 'token', 'list', '--domain', d.id).stdout).toContain(`${t.id}  REVOKED`);
    // Refusals are usage errors that say what is wrong.
    const noUrn = run2('ovh', 'token', 'create', '--domain', d.id);
    expect(noUrn.status).toBe(2);
    expect(noUrn.stderr).toContain('ovh token create needs at least one --identity URN');
    const tooLong = run2('ovh', 'token', 'create', '--domain', d.id, '--identity', 'urn:v1:eu:identity:user:x/y', '--validity', '400');
    expect(tooLong.status).toBe(2);
    expect(tooLong.stderr).toMatch(/validity/);
  }, 120_000);
  // `cse demo` writes into the data directory and needs no store; tokens come only after the demo.
  it('cse demo: marked for testing, tokens only once it exists, bad values are usage errors', () => {
    const env3 = { ...env, POLYKMS_DATA_DIR: join(dir, 'data3'), POLYKMS_CSE_PORT: '9445' };
    const run3 = (...args: string[]) =>
      spawnSync(process.execPath, ['apps/gateway/bin/polykms.mjs', ...args], {
        cwd: root,
        env: env3,
        encoding: 'utf8',
        timeout: 60_000,
      });
    const early = run3('cse', 'demo', 'token', '--role', 'writer');
    expect(early.status).toBe(2);
    expect(early.stderr).toMatch(/run polykms cse demo first/);
    const demo = run3('cse', 'demo');
    expect(demo.status, demo.stderr).toBe(0);
    expect(demo.stdout).toMatch(/^polykms CSE demo: FOR TESTING ONLY/);
    expect(demo.stdout).toContain('https://localhost:9445/v1/wrap');
    const json = JSON.parse(run3('cse', 'demo', '--json').stdout);
    expect(json).toMatchObject({
      testingOnly: true,
      kaclsUrl: 'https://localhost:9445/v1',
      tokens: { AUTHN: expect.stringMatching(/^eyJ/) },
    });
    expect(run3('cse', 'demo', 'token', '--role', 'decrypter', '--spki-hash', 'abc=').stdout).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+\n$/);
    for (const args of [['--role', 'owner'], ['--role', 'reader', '--minutes', '0'], []]) {
      const bad = run3('cse', 'demo', 'token', ...args);
      expect(bad.status, args.join(' ')).toBe(2);
      expect(bad.stderr.trim().split('\n')).toHaveLength(2);
    }
  }, 120_000);
});
