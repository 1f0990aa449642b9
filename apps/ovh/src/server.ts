import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Kms } from '@polykms/core';
import { issueServerCertificate, type Ca } from '@polykms/pki';
import { ovhApp } from './app.ts';
import { randomRoutes } from './routes/random.ts';
import { serviceKeyRoutes } from './routes/servicekey.ts';

export interface OvhServer {
  server: Server;
  port: number;
  url: string;
  close(): Promise<void>;
}

/**
 * The OVH data plane over TLS 1.2+, asking for a client certificate from the gateway's CA. A missing or
 * untrusted certificate does not end the handshake: the request is answered with OVH's Authentication
 * error body, which a client can read.
 */
export async function startOvhServer(kms: Kms, ca: Ca, opts: { host: string; port: number; hostnames?: string[] }): Promise<OvhServer> {
  const names = opts.hostnames ?? ['localhost'];
  const tls = await issueServerCertificate(ca, { dnsNames: names, ipAddresses: ['127.0.0.1', '::1'], validityDays: 365 });
  const app = ovhApp(kms, (route) => {
    serviceKeyRoutes(kms, route);
    randomRoutes(kms, route);
  });
  return new Promise((resolve, reject) => {
    const server = serve(
      {
        fetch: app.fetch,
        hostname: opts.host,
        port: opts.port,
        createServer,
        serverOptions: { key: tls.keyPem, cert: tls.chainPem, ca: [ca.certPem], requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' },
      },
      (info: AddressInfo) => {
        resolve({
          server: server as Server,
          port: info.port,
          url: `https://${names[0]}:${info.port}`,
          close: () => new Promise<void>((r) => server.close(() => r())),
        });
      },
    );
    server.once('error', reject);
  });
}
