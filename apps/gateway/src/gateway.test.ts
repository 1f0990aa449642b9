import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { startGateway } from './gateway.ts';
import { configFromEnv } from './config.ts';
import { gatewayCa } from '@polykms/pki';
import { call } from '../../ovh/test/client.ts';

describe('gateway process', () => {
  const dir = mkdtempSync(join(tmpdir(), 'polykms-gw-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('starts on embedded PGlite in the data directory, answers health and readiness, and stops cleanly', async () => {
    const cfg = { ...configFromEnv({ POLYKMS_DATA_DIR: dir, POLYKMS_ADMIN_PORT: '0', POLYKMS_OVH_PORT: '0', POLYKMS_HUAWEI_PORT: '0', POLYKMS_CSE_PORT: '0' }), databaseUrl: undefined };
    const gw = await startGateway(cfg, pino({ level: 'silent' }));
    try {
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
      const domain: any = await (await fetch(`${gw.urls.admin}/v2/okms/resource`, { method: 'POST', headers: auth, body: JSON.stringify({ region: 'eu-west-rbx' }) })).json();
      const cred: any = await (
        await fetch(`${gw.urls.admin}/v2/okms/resource/${domain.id}/credential`, { method: 'POST', headers: auth, body: JSON.stringify({ name: 'c', identityURNs: ['urn:v1:eu:identity:account:xx1111-ovh'] }) })
      ).json();
      const got: any = await (await fetch(`${gw.urls.admin}/v2/okms/resource/${domain.id}/credential/${cred.id}`, { headers: auth })).json();
      const ca = (await gatewayCa(gw.kms)).certPem;
      const created = await call(gw.urls.ovh!, { cert: got.certificatePEM, key: cred.privateKeyPEM, ca }, 'POST', '/v1/servicekey', { name: 'k', type: 'oct', size: 256, operations: ['encrypt', 'decrypt'] });
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
    } finally {
      await gw.close();
    }
  });

  it('refuses a bad port setting with a message naming the variable', () => {
    expect(() => configFromEnv({ POLYKMS_ADMIN_PORT: 'eighty' })).toThrow(/POLYKMS_ADMIN_PORT must be a port number/);
    expect(() => configFromEnv({ POLYKMS_BACKGROUND_NICE: '25' })).toThrow(/POLYKMS_BACKGROUND_NICE must be a whole number from 0 \(off\) to 19/);
  });
});
