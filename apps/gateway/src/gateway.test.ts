import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { Agent, fetch as undiciFetch } from 'undici';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { isLoopback, startGateway } from './gateway.ts';
import { configFromEnv } from './config.ts';
import { gatewayCa } from '@polykms/pki';
import { call } from '../../ovh/test/client.ts';

describe('gateway process', () => {
  const dir = mkdtempSync(join(tmpdir(), 'polykms-gw-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('starts on embedded PGlite in the data directory, answers health and readiness, and stops cleanly', async () => {
    const cfg = {
      ...configFromEnv({
        POLYKMS_DATA_DIR: dir,
        POLYKMS_ADMIN_PORT: '0',
        POLYKMS_OVH_PORT: '0',
        POLYKMS_HUAWEI_PORT: '0',
        POLYKMS_CSE_PORT: '0',
      }),
      databaseUrl: undefined,
    };
    const gw = await startGateway(cfg, pino({ level: 'silent' }));
    // The admin port is HTTPS under the gateway CA, which the gateway leaves in its data directory.
    const caFile = readFileSync(join(dir, 'ca.pem'), 'utf8');
    expect(caFile).toBe((await gatewayCa(gw.kms)).certPem);
    const dispatcher = new Agent({ connect: { ca: caFile } });
    const fetch = (url: string, init: Parameters<typeof undiciFetch>[1] = {}) => undiciFetch(url, { ...init, dispatcher });
    try {
      expect(gw.urls.admin).toMatch(/^https:\/\/localhost:\d+$/);
      expect(await (await fetch(`${gw.urls.admin}/healthz`)).json()).toEqual({ status: 'ok' });
      const ready = await fetch(`${gw.urls.admin}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ status: 'ready', storage: 'pglite' });
      expect(statSync(join(dir, 'root.key')).mode & 0o777).toBe(0o600);
      expect(statSync(join(dir, 'admin.token')).mode & 0o777).toBe(0o600);
      // The control plane wants the admin token; with it, a domain and a credential, then one OVH call over mTLS.
      expect((await fetch(`${gw.urls.admin}/v2/okms/resource`)).status).toBe(401);
      expect((await fetch(`${gw.urls.admin}/v2/okms/resource`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
      const auth = { authorization: `Bearer ${gw.adminToken.token}` };
      const domain: any = await (
        await fetch(`${gw.urls.admin}/v2/okms/resource`, {
          method: 'POST',
          headers: auth,
          body: JSON.stringify({ region: 'eu-west-rbx' }),
        })
      ).json();
      const cred: any = await (
        await fetch(`${gw.urls.admin}/v2/okms/resource/${domain.id}/credential`, {
          method: 'POST',
          headers: auth,
          body: JSON.stringify({ name: 'c', identityURNs: ['urn:v1:eu:identity:account:xx1111-ovh'] }),
        })
      ).json();
      const got: any = await (
        await fetch(`${gw.urls.admin}/v2/okms/resource/${domain.id}/credential/${cred.id}`, { headers: auth })
      ).json();
      const ca = (await gatewayCa(gw.kms)).certPem;
      const created = await call(gw.urls.ovh!, { cert: got.certificatePEM, key: cred.privateKeyPEM, ca }, 'POST', '/v1/servicekey', {
        name: 'k',
        type: 'oct',
        size: 256,
        operations: ['encrypt', 'decrypt'],
      });
      expect(created.status).toBe(201);
      const page = await fetch(`${gw.urls.admin}/console/`);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
      expect((await fetch(`${gw.urls.admin}/admin/tenants`)).status).toBe(401);
      expect((await fetch(`${gw.urls.admin}/admin/tenants`, { headers: auth })).status).toBe(200);
      const metrics = await (await fetch(`${gw.urls.admin}/metrics`)).text();
      expect(metrics).toContain('polykms_requests_total{dialect="ovh",operation="POST /v1/servicekey",status="201"} 1');
      expect(metrics).toMatch(/polykms_request_duration_seconds_bucket\{le="0.005",dialect="ovh",operation="POST \/v1\/servicekey"\} \d/);
      expect(metrics).toMatch(/polykms_key_cache_(hits|misses)_total \d+/);

      // Nothing on the admin port in clear, and a client that does not trust the gateway CA gets no answer.
      const port = Number(new URL(gw.urls.admin!).port);
      const clear = await new Promise<string>((r) => {
        const req = httpRequest(
          { host: '127.0.0.1', port, path: '/healthz', headers: { authorization: `Bearer ${gw.adminToken.token}` } },
          (res) => {
            res.resume();
            r(`HTTP ${res.statusCode}`);
          },
        );
        req.on('error', (e) => r(`error ${(e as NodeJS.ErrnoException).code}`));
        req.end();
      });
      expect(clear).not.toBe('HTTP 200');
      await expect(undiciFetch(`${gw.urls.admin}/healthz`)).rejects.toThrow();
      // Over loopback by address too (the certificate names 127.0.0.1), as the CLI and the health check reach it.
      expect((await fetch(`https://127.0.0.1:${port}/healthz`)).status).toBe(200);

      // Another site's page in the operator's browser cannot use the admin API; the console's own origin can.
      const post = (headers: Record<string, string>) =>
        fetch(`${gw.urls.admin}/admin/tenants`, {
          method: 'POST',
          headers: { ...auth, 'content-type': 'application/json', ...headers },
          body: JSON.stringify({ name: `t-${Object.keys(headers).length}` }),
        });
      const forged = await post({ origin: 'https://evil.example' });
      expect(forged.status).toBe(403);
      expect(await forged.json()).toEqual({ class: 'Client::Forbidden', message: expect.stringMatching(/cross-site/) });
      expect((await post({ 'sec-fetch-site': 'cross-site' })).status).toBe(403);
      expect(
        (
          await fetch(`${gw.urls.admin}/v2/okms/resource`, {
            method: 'POST',
            headers: { ...auth, origin: 'null' },
            body: '{"region":"eu-west-rbx"}',
          })
        ).status,
      ).toBe(403);
      expect((await post({ origin: new URL(gw.urls.admin!).origin, 'sec-fetch-site': 'same-origin', 'x-a': '1' })).status).toBe(201);
    } finally {
      await gw.close();
    }
  });

  it('serves the admin port in plain HTTP only when asked, and only on loopback', async () => {
    const d = mkdtempSync(join(tmpdir(), 'polykms-gw-plain-'));
    try {
      const env = {
        POLYKMS_DATA_DIR: d,
        POLYKMS_ADMIN_PORT: '0',
        POLYKMS_DIALECTS: 'ovh',
        POLYKMS_OVH_PORT: '0',
        POLYKMS_ADMIN_TLS: 'off',
      };
      // Refused before anything is opened: no store, no token file.
      for (const host of ['0.0.0.0', '::', '192.0.2.10', 'kms.example.com']) {
        await expect(
          startGateway({ ...configFromEnv({ ...env, POLYKMS_HOST: host }), databaseUrl: undefined }, pino({ level: 'silent' })),
        ).rejects.toThrow(new RegExp(`plain HTTP on ${host.replace(/\./g, '\\.')}: .*only allowed on a loopback address`));
        await expect(
          startGateway(
            {
              ...configFromEnv({ ...env, POLYKMS_HOST: '127.0.0.1', POLYKMS_ADMIN_HOST: host }),
              databaseUrl: undefined,
            },
            pino({ level: 'silent' }),
          ),
        ).rejects.toThrow(/only allowed on a loopback address/);
      }
      expect(() => statSync(join(d, 'admin.token'))).toThrow();
      for (const h of ['127.0.0.1', '127.9.8.7', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1']) expect(isLoopback(h), h).toBe(true);
      for (const h of ['0.0.0.0', '::', '128.0.0.1', '10.0.0.1', 'localhost.example.com', '::ffff:10.0.0.1', ''])
        expect(isLoopback(h), h).toBe(false);
      expect(() => configFromEnv({ POLYKMS_ADMIN_TLS: 'maybe' })).toThrow(/POLYKMS_ADMIN_TLS must be on or off/);

      const gw = await startGateway({ ...configFromEnv(env), databaseUrl: undefined }, pino({ level: 'silent' }));
      try {
        expect(gw.urls.admin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
        expect(await (await fetch(`${gw.urls.admin}/healthz`)).json()).toEqual({ status: 'ok' });
      } finally {
        await gw.close();
      }
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('holds POLYKMS_ADMIN_TOKEN to the same minimum as the token file', () => {
    const d = mkdtempSync(join(tmpdir(), 'polykms-gw-token-'));
    try {
      expect(() => configFromEnv({ POLYKMS_ADMIN_TOKEN: 'short' })).toThrow(/POLYKMS_ADMIN_TOKEN is too short \(at least 16 characters/);
      expect(() => configFromEnv({ POLYKMS_ADMIN_TOKEN: '123456789012345' })).toThrow(/too short/);
      expect(() => configFromEnv({ POLYKMS_ADMIN_TOKEN: 'sixteen chars but spaced' })).toThrow(/POLYKMS_ADMIN_TOKEN contains whitespace/);
      expect(configFromEnv({ POLYKMS_ADMIN_TOKEN: '1234567890123456' }).adminToken).toBe('1234567890123456');
      writeFileSync(join(d, 'short'), 'short\n');
      expect(() => configFromEnv({ POLYKMS_ADMIN_TOKEN_FILE: join(d, 'short') })).toThrow(/is too short \(at least 16 characters/);
      writeFileSync(join(d, 'ok'), '1234567890123456\n');
      expect(configFromEnv({ POLYKMS_ADMIN_TOKEN_FILE: join(d, 'ok') }).adminToken).toBe('1234567890123456');
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('refuses a bad port setting with a message naming the variable', () => {
    expect(() => configFromEnv({ POLYKMS_ADMIN_PORT: 'eighty' })).toThrow(/POLYKMS_ADMIN_PORT must be a port number/);
    expect(() => configFromEnv({ POLYKMS_BACKGROUND_NICE: '25' })).toThrow(
      /POLYKMS_BACKGROUND_NICE must be a whole number from 0 \(off\) to 19/,
    );
  });
});
