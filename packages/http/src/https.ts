import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { serve } from '@hono/node-server';
import { issueServerCertificate, type Ca } from '@polykms/pki';
import { CoalescedResponse } from './runtime/coalesce.ts';

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
 * HEAD as GET; Node's response to a HEAD request sends the headers and drops the body. (hono answers
 * HEAD by wrapping the GET's response in a new one, which @hono/node-server 1.19's light-weight
 * Response cannot take: a TypeError, so every HEAD was a 500.)
 */
function headAsGet(fetch: (req: Request, env: never) => Response | Promise<Response>) {
  // Only the method is overridden: URL, headers and Node's request stay those of the request as sent
  // (a new Request would refuse some targets Node accepts, such as an absolute URL with credentials).
  return (req: Request, env: never) =>
    fetch(req.method === 'HEAD' ? (Object.create(req, { method: { value: 'GET' } }) as Request) : req, env);
}

/**
 * A client that sends `Expect: 100-continue` (curl does for a large body) waits for `100 Continue`
 * before uploading. Node sends it at once by default, so a 413 for an oversized Content-Length came
 * while the client was still uploading and it saw a reset. Here `100 Continue` goes out only when the
 * handler starts reading the body; an answer given before that (413, 401) is what the client gets,
 * and it never sends the body (Node then closes the connection: the unread body cannot be skipped).
 */
function continueOnRead(server: Server) {
  return (req: IncomingMessage, res: ServerResponse) => {
    let asked = false;
    const onListener = (event: string | symbol) => {
      if (event !== 'data' && event !== 'readable') return;
      req.off('newListener', onListener);
      if (!asked && !res.headersSent && !res.writableEnded) {
        asked = true;
        res.writeContinue();
      }
    };
    req.on('newListener', onListener);
    server.emit('request', req, res);
  };
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
  const tls = await issueServerCertificate(ca, {
    dnsNames: names,
    ipAddresses: ['127.0.0.1', '::1'],
    validityDays: 365,
  });
  return new Promise((resolve, reject) => {
    const server = serve(
      {
        fetch: headAsGet(fetch) as never,
        hostname: opts.host,
        port: opts.port,
        createServer,
        serverOptions: {
          key: tls.keyPem,
          cert: tls.chainPem,
          minVersion: 'TLSv1.2',
          ServerResponse: CoalescedResponse,
          ...(opts.requestClientCertificate ? { ca: [ca.certPem], requestCert: true, rejectUnauthorized: false } : {}),
        },
      },
      (info: AddressInfo) => {
        resolve({
          server: server as Server,
          port: info.port,
          url: `https://${names[0]}:${info.port}`,
          // A connection still answering when closing starts becomes idle only once its answer is out,
          // at the end of a turn (coalesce.ts): swept until the server has closed, not left to the
          // keep-alive timeout.
          close: () =>
            new Promise<void>((r) => {
              const sweep = setInterval(() => (server as Server).closeIdleConnections?.(), 20).unref();
              server.close(() => {
                clearInterval(sweep);
                r();
              });
              (server as Server).closeIdleConnections?.();
            }),
        });
      },
    );
    server.once('error', reject);
    // Longer than the 60 s idle timeout of common load balancers and clients' pools (Node's 5 s is not),
    // so none sends a request on a connection the gateway is closing.
    (server as Server).keepAliveTimeout = 65_000;
    server.on('checkContinue', continueOnRead(server as Server));
    // A connection's peer certificate is fixed at the handshake (dialects read it once per connection);
    // TLS 1.2 renegotiation, which could present another one, is refused.
    server.on('secureConnection', (socket: TLSSocket) => socket.disableRenegotiation());
  });
}
