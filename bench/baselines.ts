import { sign, type KeyObject } from 'node:crypto';
import { Hono } from 'hono';
import type { ConnectionOptions } from 'node:tls';
import { readText, serveHttps, type HttpsServer } from '@polykms/http';
import type { Ca } from '@polykms/pki';
import { RemoteClient } from './load.ts';

/** Raw node:crypto, asynchronous form (the thread pool, both cores), on an already parsed KeyObject. */
export const rawSign = (alg: string, data: Buffer, key: KeyObject, dsaEncoding?: 'ieee-p1363') =>
  new Promise<Buffer>((res, rej) => sign(alg, data, dsaEncoding ? { key, dsaEncoding } : key, (e, s) => (e ? rej(e) : res(s))));

/**
 * A bare hono JSON echo behind exactly the dialect's transport (the same HTTPS listener, TLS settings
 * and, for OVH, client-certificate request), its body read and parsed as the dialects read theirs,
 * called by the same load generator: what the plumbing costs when the gateway does nothing.
 */
export async function echoBaseline(ca: Ca, opts: { mtls: boolean; tls: ConnectionOptions; concurrency: number; headers?: Record<string, string> }) {
  const app = new Hono();
  app.post('*', async (c) => c.json(JSON.parse(await readText(c))));
  const server: HttpsServer = await serveHttps(app.fetch, ca, { host: '127.0.0.1', port: 0, requestClientCertificate: opts.mtls });
  const client = new RemoteClient(server.port, opts.tls, opts.concurrency);
  return {
    post: (body: unknown) => client.post('/echo', body, opts.headers),
    async close() {
      await client.close();
      await server.close();
    },
  };
}
