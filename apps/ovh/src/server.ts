import type { Kms } from '@polykms/core';
import { serveHttps, type HttpsServer, type Metrics } from '@polykms/http';
import type { Logger } from 'pino';
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
export async function startOvhServer(
  kms: Kms,
  ca: Ca,
  opts: {
    host: string;
    port: number;
    hostnames?: string[] | undefined;
    log?: Logger | undefined;
    metrics?: Metrics | undefined;
  },
): Promise<OvhServer> {
  const app = ovhApp(
    kms,
    (route) => {
      serviceKeyRoutes(kms, route);
      randomRoutes(kms, route);
    },
    opts,
  );
  return serveHttps(app.fetch, ca, {
    host: opts.host,
    port: opts.port,
    hostnames: opts.hostnames,
    requestClientCertificate: true,
  });
}
