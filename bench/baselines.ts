import { createCipheriv, createDecipheriv, randomBytes, sign, type KeyObject } from 'node:crypto';
import { Hono } from 'hono';
import type { ConnectionOptions } from 'node:tls';
import { readText, serveHttps, type HttpsServer } from '@polykms/http';
import type { Ca } from '@polykms/pki';
import { RemoteClient } from './load.ts';

/** Raw node:crypto, asynchronous form (the thread pool, both cores), on an already parsed KeyObject. */
export const rawSign = (alg: string, data: Buffer, key: KeyObject, dsaEncoding?: 'ieee-p1363') =>
  new Promise<Buffer>((res, rej) => sign(alg, data, dsaEncoding ? { key, dsaEncoding } : key, (e, s) => (e ? rej(e) : res(s))));

/** What a reference server does with a parsed body besides echoing it: the row's cryptography alone. */
export type Operation = (body: any) => unknown;

/**
 * A bare hono JSON echo behind exactly the dialect's transport (the same HTTPS listener, TLS settings
 * and, for OVH, client-certificate request), its body read and parsed as the dialects read theirs,
 * called by the same load generator: what the plumbing costs when the gateway does nothing.
 *
 * `ops` are the same server doing one row's cryptography and nothing else (no identity, key lookup,
 * validation, audit or vendor encoding): `op(name, body)` measures it. Between the echo and a dialect,
 * it says how much of the gap is the crypto a KMS cannot skip and how much its own plumbing.
 */
export async function echoBaseline(ca: Ca, opts: { mtls: boolean; tls: ConnectionOptions; concurrency: number; headers?: Record<string, string> }, ops: Record<string, Operation> = {}) {
  const app = new Hono();
  app.post('/echo', async (c) => c.json(JSON.parse(await readText(c))));
  app.post('/op/:name', async (c) => {
    const op = ops[c.req.param('name')];
    if (!op) return c.json({ error: 'no such operation' }, 404);
    return c.json((await op(JSON.parse(await readText(c)))) as object);
  });
  const server: HttpsServer = await serveHttps(app.fetch, ca, { host: '127.0.0.1', port: 0, requestClientCertificate: opts.mtls });
  const client = new RemoteClient(server.port, opts.tls, opts.concurrency);
  return {
    post: (body: unknown) => client.post('/echo', body, opts.headers),
    op: (name: keyof typeof ops & string, body: unknown) => client.post(`/op/${name}`, body, opts.headers),
    async close() {
      await client.close();
      await server.close();
    },
  };
}

/** AES-256-GCM with a fresh 96-bit nonce, as `iv || ciphertext || tag`. */
export function gcmSeal(key: Buffer, plaintext: Buffer) {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  return Buffer.concat([iv, c.update(plaintext), c.final(), c.getAuthTag()]);
}

export function gcmOpen(key: Buffer, sealed: Buffer) {
  const d = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12));
  d.setAuthTag(sealed.subarray(sealed.length - 16));
  return Buffer.concat([d.update(sealed.subarray(12, sealed.length - 16)), d.final()]);
}
