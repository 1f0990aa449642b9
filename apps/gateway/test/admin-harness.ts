/**
 * Test support: the admin port as admin.ts composes it (admin token on /admin/* and /v2/*, the OVH
 * control plane, Huawei IAM, the admin keys API, the console), on a loopback port, with the OVH data
 * plane beside it counting its requests, on a throwaway key store. Used by src/admin/admin.test.ts and
 * test/console.test.ts.
 */
import { randomBytes } from 'node:crypto';
import type { Kms } from '@polykms/core';
import { openTestKms, type Backend } from '@polykms/core/testing';
import { gatewayCa } from '@polykms/pki';
import { startOvhServer, type OvhServer } from '@polykms/ovh';
import { Metrics, serveHttps } from '@polykms/http';
import type { CseConfig } from '@polykms/cse';
import { adminApp } from '../src/admin/index.ts';

/** The admin port's app itself, so the tests exercise exactly what the gateway serves. */
export const composeAdminPort = (kms: Kms, opts: Parameters<typeof adminApp>[1]) => adminApp(kms, opts);

export interface AdminHarness {
  kms: Kms;
  metrics: Metrics;
  token: string;
  adminUrl: string;
  ovh: OvhServer;
  caPem: string;
  close(): Promise<void>;
}

export async function startAdminHarness(backend: Backend = 'pglite', opts: { cse?: CseConfig } = {}): Promise<AdminHarness> {
  const { kms, drop } = await openTestKms(backend);
  const ca = await gatewayCa(kms);
  const metrics = new Metrics();
  const ovh = await startOvhServer(kms, ca, { host: '127.0.0.1', port: 0, metrics });
  const token = randomBytes(24).toString('base64url');
  const app = composeAdminPort(kms, { adminToken: token, ovhUrl: ovh.url, metrics, cse: opts.cse });
  // HTTPS with the gateway CA, as the gateway serves its admin port.
  const admin = await serveHttps(app.fetch, ca, { host: '127.0.0.1', port: 0 });
  return {
    kms,
    metrics,
    token,
    adminUrl: admin.url,
    ovh,
    caPem: ca.certPem,
    async close() {
      // Browsers keep connections alive; drop them so close() does not wait for their timeout.
      admin.server.closeAllConnections();
      await admin.close();
      await ovh.close();
      await kms.close();
      await drop();
    },
  };
}
