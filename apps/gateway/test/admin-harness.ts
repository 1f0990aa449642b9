/**
 * Test support: the admin port composed as admin.ts composes it (admin token on /admin/* and /v2/*,
 * the OVH control plane, the admin keys API, the console), on a loopback port, with the OVH data plane
 * beside it, on a throwaway key store. Used by admin-keys.test.ts and test/console.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { serveHttps } from '@polykms/http';
import { Hono } from 'hono';
import type { Kms } from '@polykms/core';
import { openTestKms, type Backend } from '@polykms/core/testing';
import { gatewayCa } from '@polykms/pki';
import { ovhControlApp, startOvhServer, type OvhServer } from '@polykms/ovh';
import { requireAdmin } from '../src/admintoken.ts';
import { refuseCrossSiteAdmin } from '../src/admin.ts';
import { adminKeysApp, noStore } from '../src/admin-keys.ts';
import { consoleApp } from '../src/console/index.ts';

/** The same mount order as admin.ts: middleware first, then the control plane, then these apps. */
export function composeAdminPort(kms: Kms, opts: { adminToken: string; ovhUrl: string }) {
  const app = new Hono();
  app.use('*', refuseCrossSiteAdmin());
  app.use('/v2/*', requireAdmin(opts.adminToken));
  app.use('/admin/*', requireAdmin(opts.adminToken));
  app.use('/v2/*', noStore);
  app.route('/', ovhControlApp(kms, () => gatewayCa(kms), { restEndpoint: opts.ovhUrl, swaggerEndpoint: `${opts.ovhUrl}/swagger/` }));
  app.route('/', adminKeysApp(kms));
  app.route('/', consoleApp());
  return app;
}

export interface AdminHarness {
  kms: Kms;
  token: string;
  adminUrl: string;
  ovh: OvhServer;
  caPem: string;
  close(): Promise<void>;
}

export async function startAdminHarness(backend: Backend = 'pglite'): Promise<AdminHarness> {
  const { kms, drop } = await openTestKms(backend);
  const ca = await gatewayCa(kms);
  const ovh = await startOvhServer(kms, ca, { host: '127.0.0.1', port: 0 });
  const token = randomBytes(24).toString('base64url');
  const app = composeAdminPort(kms, { adminToken: token, ovhUrl: ovh.url });
  // HTTPS with the gateway CA, as the gateway serves its admin port.
  const admin = await serveHttps(app.fetch, ca, { host: '127.0.0.1', port: 0 });
  return {
    kms,
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
