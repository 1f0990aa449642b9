/**
 * The README's first command on a fresh data directory: `pnpm start` (embedded PGlite), then what a new
 * user does with the CLI, and one call per dialect with what the CLI produced. It also checks the
 * product promise no vendor makes (one key through two vendors' APIs), that logs carry request ids and
 * no secrets, and that SIGTERM stops the process cleanly.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestIssuer } from '@polykms/cse/testing';
import { freePort } from '@polykms/core/testing';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
describe('fresh start with the README command, then one call per dialect', () => {
  const dir = mkdtempSync(join(tmpdir(), 'polykms-fullrun-'));
  const env: Record<string, string> = {};
  let child: ReturnType<typeof spawn>;
  let logs = '';
  let exited: Promise<number | null>;
  const secrets: Record<string, string> = {};
  const ports: Record<string, number> = {};

  const cli = (...args: string[]) => {
    const r = spawnSync(process.execPath, ['apps/gateway/bin/polykms.mjs', ...args, '--json'], {
      cwd: root,
      env,
      encoding: 'utf8',
      timeout: 60_000,
    });
    if (r.status !== 0) throw new Error(`polykms ${args.join(' ')}: ${r.status}\n${r.stdout}\n${r.stderr}`);
    return JSON.parse(r.stdout);
  };

  beforeAll(async () => {
    for (const d of ['admin', 'ovh', 'huawei', 'cse']) ports[d] = await freePort();
    Object.assign(env, {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? dir,
      POLYKMS_DATA_DIR: join(dir, 'data'),
      POLYKMS_ADMIN_PORT: String(ports.admin),
      POLYKMS_OVH_PORT: String(ports.ovh),
      POLYKMS_HUAWEI_PORT: String(ports.huawei),
      POLYKMS_CSE_PORT: String(ports.cse),
      POLYKMS_CSE_CONFIG: join(dir, 'cse.json'),
      POLYKMS_LOG_LEVEL: 'info',
    });
    // The CSE settings first (the KACLS reads them at start), with the CLI.
    const idp = await TestIssuer.create(dir, 'https://idp.example.test');
    const drive = await TestIssuer.create(dir, 'gsuitecse-tokenissuer-drive@system.gserviceaccount.com');
    const kaclsUrl = `https://localhost:${ports.cse}/v1`;
    cli('cse', 'config', 'init', '--kacls-url', kaclsUrl);
    cli('cse', 'config', 'add-idp', '--issuer', idp.iss, '--jwks-uri', idp.jwksUri, '--audience', 'cse-web');
    cli('cse', 'config', 'add-issuer', '--issuer', drive.iss, '--jwks-uri', drive.jwksUri, '--application', 'drive');
    secrets.authn = await idp.mint({ email: 'ann@example.test' }, { aud: 'cse-web' });
    secrets.authz = await drive.mint(
      {
        email: 'ann@example.test',
        role: 'writer',
        resource_name: '//googleapis.com/drive/files/f1',
        kacls_url: kaclsUrl,
      },
      { aud: 'cse-authorization' },
    );

    child = spawn('npx', ['-y', 'pnpm@10.34.9', 'start'], {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    child.stdout!.on('data', (d) => (logs += d));
    child.stderr!.on('data', (d) => (logs += d));
    exited = new Promise((r) => child.on('exit', (code) => r(code)));
    for (let i = 0; i < 240; i++) {
      // HTTPS under the gateway CA, which the gateway writes into its data directory before the admin port opens.
      const caFile = join(dir, 'data', 'ca.pem');
      const ok =
        existsSync(caFile) &&
        (await request(`https://127.0.0.1:${ports.admin}/readyz`, {
          dispatcher: new Agent({ connect: { ca: readFileSync(caFile) } }),
        }).then(
          (r) => (r.body.dump(), r.statusCode === 200),
          () => false,
        ));
      if (ok) return;
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`the gateway did not become ready:\n${logs}`);
  });
  afterAll(async () => {
    if (child?.exitCode === null) process.kill(-child.pid!, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints where it listens and how to get started', async () => {
    // The primary prints these once every worker has said it listens, which can be just after /readyz answers.
    for (let i = 0; i < 200 && !logs.includes('first Huawei user'); i++) await new Promise((r) => setTimeout(r, 250));
    expect(logs).toContain(
      `polykms listening: admin https://localhost:${ports.admin}, ovh https://localhost:${ports.ovh}, huawei https://localhost:${ports.huawei}, cse https://localhost:${ports.cse}`,
    );
    expect(logs).toMatch(/first OVH credential: pnpm polykms ovh domain create/);
    expect(logs).toMatch(/first Huawei user: pnpm polykms huawei user create/);
    expect(logs).toMatch(/admin API and console: .*\/console\/ with the token in .*admin\.token/);
  });

  it('serves all three vendors with the credentials the CLI made, and one key through two of them', async () => {
    const ca = cli('ca', 'export').certificatePEM as string;
    const domain = cli('ovh', 'domain', 'create', '--region', 'eu-west-rbx');
    const cred = cli(
      'ovh',
      'credential',
      'create',
      '--domain',
      domain.id,
      '--identity',
      'urn:v1:eu:identity:account:xx1111-ovh',
      '--out',
      join(dir, 'client'),
    );
    secrets.ovhKey = readFileSync(join(dir, 'client.key'), 'utf8');
    expect(secrets.ovhKey).toBe(cred.privateKeyPEM);
    const ovh = new Agent({
      connect: { ca, cert: readFileSync(join(dir, 'client.cert')), key: secrets.ovhKey, servername: 'localhost' },
    });
    const tls = new Agent({ connect: { ca, servername: 'localhost' } });
    const call = async (dispatcher: Agent, url: string, body?: unknown, headers: Record<string, string> = {}) => {
      const r = await request(url, {
        method: body === undefined ? 'GET' : 'POST',
        dispatcher,
        headers: { 'content-type': 'application/json', ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await r.body.text();
      return { status: r.statusCode, headers: r.headers, json: text ? JSON.parse(text) : undefined };
    };

    // OVH: the guide's first calls, over mTLS with the CLI's client.cert/client.key.
    const ovhUrl = `https://localhost:${ports.ovh}`;
    const rsa = await call(ovh, `${ovhUrl}/v1/servicekey`, {
      name: 'shared-signer',
      type: 'RSA',
      size: 2048,
      operations: ['sign', 'verify'],
    });
    expect(rsa.status).toBe(201);

    // Huawei: a user made by the CLI, its project linked to the OVH domain's tenant, a token the Keystone way.
    const project = randomBytes(16).toString('hex');
    secrets.password = `pw-${randomBytes(12).toString('hex')}`;
    cli(
      'huawei',
      'user',
      'create',
      '--domain',
      'acme',
      '--name',
      'ann',
      '--password',
      secrets.password,
      '--project',
      `${project}:KMS Administrator`,
    );
    const link = cli('tenant', 'link', '--tenant', `ovh:${domain.id}`, '--huawei-project', project);
    expect(link[0]).toMatchObject({ dialect: 'huawei', externalId: project });
    const hw = `https://localhost:${ports.huawei}`;
    const auth = await call(tls, `${hw}/v3/auth/tokens`, {
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: 'ann', password: secrets.password, domain: { name: 'acme' } } },
        },
        scope: { project: { id: project } },
      },
    });
    expect(auth.status).toBe(201);
    secrets.token = auth.headers['x-subject-token'] as string;
    const own = await call(tls, `${hw}/v1.0/${project}/kms/create-key`, { key_alias: 'hw-own' }, { 'x-auth-token': secrets.token });
    expect(own.status).toBe(200);
    expect(own.json.key_info.key_id).toMatch(/^[0-9a-f-]{36}$/);

    // One key, two vendors: created through OVH, signed through Huawei, verified through OVH.
    const message = Buffer.from('one key, two vendors');
    const signed = await call(
      tls,
      `${hw}/v1.0/${project}/kms/sign`,
      {
        key_id: rsa.json.id,
        signing_algorithm: 'RSASSA_PKCS1_V1_5_SHA_256',
        message_type: 'RAW',
        message: message.toString('base64'),
      },
      { 'x-auth-token': secrets.token },
    );
    expect(signed.status).toBe(200);
    const verified = await call(ovh, `${ovhUrl}/v1/servicekey/${rsa.json.id}/verify`, {
      alg: 'RS256',
      message: message.toString('base64'),
      signature: signed.json.signature,
    });
    expect(verified.json).toEqual({ result: true });
    const tampered = await call(ovh, `${ovhUrl}/v1/servicekey/${rsa.json.id}/verify`, {
      alg: 'RS256',
      message: Buffer.from('another').toString('base64'),
      signature: signed.json.signature,
    });
    expect(tampered.json).toEqual({ result: false });

    // Google CSE: wrap then unwrap with tokens from the configured issuers.
    const cse = `https://localhost:${ports.cse}/v1`;
    const dek = randomBytes(32);
    secrets.dek = dek.toString('base64');
    const wrapped = await call(tls, `${cse}/wrap`, {
      authentication: secrets.authn,
      authorization: secrets.authz,
      key: secrets.dek,
      reason: 'fullrun',
    });
    expect(wrapped.status, JSON.stringify(wrapped.json)).toBe(200);
    const unwrapped = await call(tls, `${cse}/unwrap`, {
      authentication: secrets.authn,
      authorization: secrets.authz,
      wrapped_key: wrapped.json.wrapped_key,
      reason: 'fullrun',
    });
    expect(unwrapped.json.key).toBe(secrets.dek);

    // The admin token opened the admin API for the CLI; the audit trail verifies.
    secrets.adminToken = readFileSync(join(dir, 'data', 'admin.token'), 'utf8').trim();
    expect(cli('audit', 'verify').ok).toBe(true);
    await ovh.close();
    await tls.close();
  });

  it('logs each request with its id and dialect, and no secret', () => {
    const lines = logs
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l));
    for (const d of ['ovh', 'huawei', 'cse'])
      expect(lines.some((l) => l.msg === 'request' && l.dialect === d && typeof l.reqId === 'string' && l.reqId.length >= 16)).toBe(true);
    const rootKey = readFileSync(join(dir, 'data', 'root.key'), 'utf8').trim();
    const pemBody = secrets
      .ovhKey!.split('\n')
      .filter((l) => l && !l.startsWith('-----'))
      .join('');
    const needles = {
      ...secrets,
      rootKey,
      ovhKey: pemBody.slice(0, 40),
      dekHex: Buffer.from(secrets.dek!, 'base64').toString('hex'),
    };
    expect(Object.keys(needles).length).toBeGreaterThanOrEqual(8);
    for (const [name, value] of Object.entries(needles)) {
      expect(value!.length, name).toBeGreaterThan(10);
      expect(logs.includes(value!), `the logs contain ${name}`).toBe(false);
    }
    expect(logs).not.toMatch(/PRIVATE KEY/);
  });

  it('stops on SIGTERM with status 0 (and so do pnpm and npx around it)', async () => {
    // The gateway's own pid, from its first log line: what a supervisor signals.
    const pid = JSON.parse(logs.split('\n').find((l) => l.includes('polykms listening'))!).pid as number;
    process.kill(pid, 'SIGTERM');
    expect(await exited).toBe(0);
    expect(logs).toContain('shutting down: finishing in-flight requests');
  });
});
