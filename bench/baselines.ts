import { sign, type KeyObject } from 'node:crypto';
import { Hono } from 'hono';
import { Agent, request } from 'undici';
import { serveHttps, type HttpsServer } from '@polykms/http';
import type { Ca } from '@polykms/pki';

/** Raw node:crypto, asynchronous form (the thread pool, both cores), on an already parsed KeyObject. */
export const rawSign = (alg: string, data: Buffer, key: KeyObject, dsaEncoding?: 'ieee-p1363') =>
  new Promise<Buffer>((res, rej) => sign(alg, data, dsaEncoding ? { key, dsaEncoding } : key, (e, s) => (e ? rej(e) : res(s))));

/**
 * A bare hono JSON echo behind exactly the dialect's transport (the same HTTPS listener, TLS settings
 * and, for OVH, client-certificate request), called with the same client: what the plumbing costs
 * when the gateway does nothing.
 */
export async function echoBaseline(ca: Ca, opts: { mtls: boolean; connect: ConstructorParameters<typeof Agent>[0]; headers?: Record<string, string> }) {
  const app = new Hono();
  app.post('*', async (c) => c.json(await c.req.json()));
  const server: HttpsServer = await serveHttps(app.fetch, ca, { host: '127.0.0.1', port: 0, requestClientCertificate: opts.mtls });
  const dispatcher = new Agent(opts.connect);
  const post = async (body: unknown) => {
    const r = await request(`https://127.0.0.1:${server.port}/echo`, { method: 'POST', dispatcher, headers: { 'content-type': 'application/json', ...opts.headers }, body: JSON.stringify(body) });
    const text = await r.body.text();
    if (r.statusCode !== 200) throw new Error(`echo: ${r.statusCode} ${text}`);
    return text;
  };
  return {
    post,
    async close() {
      await dispatcher.close();
      await server.close();
    },
  };
}
