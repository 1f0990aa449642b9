import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { openTestKms } from '@polykms/core/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { DISABLED_CONFIG, GOOGLE_AUTHORIZATION_AUDIENCE, loadCseConfig } from './config.ts';
import { DEMO_AUDIENCE, DEMO_RESOURCE, DEMO_USER, demoToken, writeDemo } from './demo.ts';
import { buildCseApp } from './server.ts';

describe('cse demo', () => {
  const dir = mkdtempSync(join(tmpdir(), 'polykms-cse-demo-'));
  const drops: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const d of drops) await d();
    rmSync(dir, { recursive: true, force: true });
  });
  const demoDir = join(dir, 'cse-demo');
  const kaclsUrl = 'https://localhost:8445/v1';

  it('writes a valid configuration with private keys only its owner reads, and keeps them on a second run', async () => {
    const first = writeDemo(demoDir, kaclsUrl);
    expect(first.newKeys).toBe(true);
    const config = await loadCseConfig(first.config);
    expect(config).toMatchObject({ kaclsUrl, enabled: true, privilegedUsers: ['admin@example.com'] });
    expect(config.identityProviders[0]!.jwksUri).toMatch(/^file:\/\//);
    for (const f of ['idp.key.pem', 'authorization.key.pem', 'cse.json']) expect(statSync(join(demoDir, f)).mode & 0o777).toBe(0o600);
    expect(statSync(demoDir).mode & 0o777).toBe(0o700);
    const key = readFileSync(join(demoDir, 'idp.key.pem'), 'utf8');
    expect(writeDemo(demoDir, kaclsUrl).newKeys).toBe(false);
    expect(readFileSync(join(demoDir, 'idp.key.pem'), 'utf8')).toBe(key);
    expect(writeDemo(demoDir, kaclsUrl, true).newKeys).toBe(true);
    expect(readFileSync(join(demoDir, 'idp.key.pem'), 'utf8')).not.toBe(key);
  });

  // Checked with jose against the published key set, not with the code that signed.
  it('mints tokens with the claims Workspace sends, verifiable with the JWKS files', async () => {
    const jwks = (who: string) => createLocalJWKSet(JSON.parse(readFileSync(join(demoDir, `${who}.jwks.json`), 'utf8')));
    const authn = await jwtVerify(await demoToken(demoDir, { kind: 'authentication' }), jwks('idp'), {
      audience: DEMO_AUDIENCE,
    });
    expect(authn.payload).toMatchObject({ email: DEMO_USER });
    const authz = await jwtVerify(await demoToken(demoDir, { kind: 'signer', spkiHash: 'abc=', minutes: 5 }), jwks('authorization'), {
      audience: GOOGLE_AUTHORIZATION_AUDIENCE,
    });
    expect(authz.payload).toMatchObject({
      email: DEMO_USER,
      role: 'signer',
      resource_name: DEMO_RESOURCE,
      kacls_url: kaclsUrl,
      spki_hash: 'abc=',
      spki_hash_algorithm: 'SHA-256',
    });
    expect(authz.payload.exp! - authz.payload.iat!).toBe(300);
    await expect(demoToken(join(dir, 'nowhere'), { kind: 'reader' })).rejects.toThrow(/run polykms cse demo first/);
  });

  it('is accepted by a KACLS loaded from it: wrap then unwrap, at /v1 as at the root', async () => {
    const { kms, drop } = await openTestKms('pglite');
    drops.push(async () => {
      await kms.close();
      await drop();
    });
    const { app } = buildCseApp(kms, await loadCseConfig(join(demoDir, 'cse.json')));
    const post = (path: string, body: unknown) =>
      app.request(path, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const dek = randomBytes(32).toString('base64');
    const authentication = await demoToken(demoDir, { kind: 'authentication' });
    const wrapped = await post('/v1/wrap', {
      authentication,
      authorization: await demoToken(demoDir, { kind: 'writer' }),
      key: dek,
    });
    expect(wrapped.status).toBe(200);
    const { wrapped_key } = (await wrapped.json()) as { wrapped_key: string };
    const unwrapped = await post('/unwrap', {
      authentication,
      authorization: await demoToken(demoDir, { kind: 'reader' }),
      wrapped_key,
    });
    expect(await unwrapped.json()).toEqual({ key: dek });
    const reader = await post('/v1/wrap', {
      authentication,
      authorization: await demoToken(demoDir, { kind: 'reader' }),
      key: dek,
    });
    expect(reader.status).toBe(403);
    expect(await (await app.request('/v1/status')).json()).toEqual(await (await app.request('/status')).json());
  });

  // The gateway announces `<url>/v1` even before CSE is configured.
  it('without a configuration, /v1/status answers like /status and nothing else does', async () => {
    const { kms, drop } = await openTestKms('pglite');
    drops.push(async () => {
      await kms.close();
      await drop();
    });
    const { app } = buildCseApp(kms, DISABLED_CONFIG);
    const root = await app.request('/status');
    const v1 = await app.request('/v1/status');
    expect(v1.status).toBe(200);
    expect(await v1.json()).toEqual(await root.json());
    expect((await app.request('/v2/status')).status).toBe(404);
    const wrap = await app.request('/v1/wrap', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ authentication: 'x', authorization: 'y', key: 'AAAA' }),
    });
    expect(wrap.status).toBe(401);
  });
});
