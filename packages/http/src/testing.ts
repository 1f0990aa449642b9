import { request } from 'node:https';

/** What a test client trusts and presents: the gateway's CA, and a client certificate where the dialect asks for one. */
export interface ClientTls {
  ca: string;
  cert?: string;
  key?: string;
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The body parsed, or undefined when it is empty or not JSON. */
  // biome-ignore lint/suspicious/noExplicitAny: tests read each vendor's bodies freely; their assertions check the shape
  json: any;
}

/**
 * One HTTPS call as a vendor's raw-HTTP client makes it, on a connection of its own: an object body
 * is sent as JSON with `contentType` (each dialect's clients name it their way), a string or bytes as
 * they are. Test support for every dialect's end-to-end tests; no listener code imports it.
 */
export function httpsCall(
  base: string,
  tls: ClientTls,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
  contentType = 'application/json',
): Promise<Reply> {
  const url = new URL(path, base);
  const payload = body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        ca: tls.ca,
        cert: tls.cert,
        key: tls.key,
        agent: false,
        headers: { ...(payload !== undefined ? { 'content-type': contentType } : {}), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d) => chunks.push(d));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}
