import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { serve } from '@hono/node-server';
import { issueServerCertificate, type Ca } from '@polykms/pki';
import { CoalescedResponse } from './coalesce.ts';

export interface HttpsServer {
  server: Server;
  port: number;
  url: string;
  close(): Promise<void>;
}

export interface ServeHttpsOptions {
  host: string;
  port: number;
  /** DNS names in the server certificate; the first one is used in `url`. */
  hostnames?: string[] | undefined;
  /**
   * Ask for a client certificate from the gateway's CA (mTLS). A missing or untrusted certificate does
   * not end the handshake, so the dialect can answer with its own authentication error body.
   */
  requestClientCertificate?: boolean | undefined;
}

/**
 * One HTTPS listener for a dialect: TLS 1.2+, a server certificate issued by the gateway's CA for the
 * configured names and the loopback addresses, keep-alive on, the responses of one event-loop turn
 * written together.
 */
export async function serveHttps(
  fetch: (req: Request, env: never) => Response | Promise<Response>,
  ca: Ca,
  opts: ServeHttpsOptions,
): Promise<HttpsServer> {
  const names = opts.hostnames?.length ? opts.hostnames : ['localhost'];
  const tls = await issueServerCertificate(ca, { dnsNames: names, ipAddresses: ['127.0.0.1', '::1'], validityDays: 365 });
  return new Promise((resolve, reject) => {
    const server = serve(
      {
        fetch: fetch as never,
        hostname: opts.host,
        port: opts.port,
        createServer,
        serverOptions: {
          key: tls.keyPem,
          cert: tls.chainPem,
          minVersion: 'TLSv1.2',
          ServerResponse: CoalescedResponse,
          // A client that half-closes after its request still gets the answer, which is written at
          // the end of the turn (coalesce.ts), after its FIN was read.
          allowHalfOpen: true,
          ...(opts.requestClientCertificate ? { ca: [ca.certPem], requestCert: true, rejectUnauthorized: false } : {}),
        },
      },
      (info: AddressInfo) => {
        resolve({
          server: server as Server,
          port: info.port,
          url: `https://${names[0]}:${info.port}`,
          close: () =>
            new Promise<void>((r) => {
              server.close(() => r());
              (server as Server).closeIdleConnections?.();
              // Again once this turn's answers are written: until then their connections are not idle.
              setImmediate(() => (server as Server).closeIdleConnections?.());
            }),
        });
      },
    );
    server.once('error', reject);
    // With allowHalfOpen, Node's HTTP layer ends a half-closed connection itself after its last answer.
    (server as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
    // A connection's peer certificate is fixed at the handshake (dialects read it once per connection);
    // TLS 1.2 renegotiation, which could present another one, is refused.
    server.on('secureConnection', (socket: TLSSocket) => socket.disableRenegotiation());
  });
}
