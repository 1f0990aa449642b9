import type { Kms } from '@polykms/core';
import { serveHttps, type HttpsServer } from '@polykms/http';
import type { Ca } from '@polykms/pki';
import { ovhApp } from './app.ts';
import { randomRoutes } from './routes/random.ts';
import { serviceKeyRoutes } from './routes/servicekey.ts';

export type OvhServer = HttpsServer;

/**
 * The OVH data plane over TLS 1.2+, asking for a client certificate from the gateway's CA. A missing or
 * untrusted certificate does not end the handshake: the request is answered with OVH's Authentication
 * error body, which a client can read.
 */
export async function startOvhServer(kms: Kms, ca: Ca, opts: { host: string; port: number; hostnames?: string[] | undefined }): Promise<OvhServer> {
  const app = ovhApp(kms, (route) => {
    serviceKeyRoutes(kms, route);
    randomRoutes(kms, route);
  });
  return serveHttps(app.fetch, ca, { ...opts, requestClientCertificate: true });
}
