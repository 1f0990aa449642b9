import { request } from 'node:https';
import { CseError } from './errors.ts';

export interface HttpsReply {
  status: number;
  text: string;
}

/**
 * One outbound HTTPS call (peer JWKS, a peer's privilegedunwrap): TLS verified against the system roots
 * or the peer's configured CA, no redirects followed (a redirect could lead anywhere), bounded in time
 * and in size.
 */
export function httpsCall(
  url: string,
  opts: { method?: 'GET' | 'POST'; body?: string; ca?: string | undefined; timeoutMs?: number; maxBytes?: number } = {},
): Promise<HttpsReply> {
  const u = new URL(url);
  if (u.protocol !== 'https:') return Promise.reject(new CseError(400, `refusing to call ${u.protocol} URL: only https`, 'url'));
  const maxBytes = opts.maxBytes ?? 256 * 1024;
  return new Promise((resolve, reject) => {
    const req = request(
      u,
      {
        method: opts.method ?? 'GET',
        ca: opts.ca,
        minVersion: 'TLSv1.2',
        timeout: opts.timeoutMs ?? 10_000,
        headers: {
          accept: 'application/json',
          ...(opts.body !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(opts.body) } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (d: Buffer) => {
          size += d.length;
          if (size > maxBytes) {
            // Refused, not truncated; both streams closed without an error event nobody would hear.
            reject(new CseError(502, `${u.origin} answered more than ${maxBytes} bytes`, 'peer'));
            res.destroy();
            req.destroy();
            return;
          }
          chunks.push(d);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        // Node's `aborted` (ECONNRESET) here is the peer's doing: core would read it as its own store gone.
        res.on('error', (e) => reject(new CseError(502, `${u.origin} broke off its answer: ${e.message}`, 'peer_unreachable')));
      },
    );
    req.on('timeout', () => req.destroy(new CseError(503, `${u.origin} did not answer in time`, 'peer_timeout')));
    req.on('error', (e) =>
      reject(e instanceof CseError ? e : new CseError(503, `cannot reach ${u.origin}: ${(e as Error).message}`, 'peer_unreachable')),
    );
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}
