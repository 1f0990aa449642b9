import { createCipheriv, createDecipheriv, createPrivateKey, randomBytes, sign, type KeyObject } from 'node:crypto';
import { Hono } from 'hono';
import type { ConnectionOptions } from 'node:tls';
import { readText, serveHttps, type HttpsServer } from '@polykms/http';
import type { Ca } from '@polykms/pki';
import { RemoteClient, type LoadRequest } from './load.ts';
import { generateKeyPairDetached } from '@polykms/core';

/** Raw node:crypto, asynchronous form (the thread pool, both cores), on an already parsed KeyObject. */
export const rawSign = (alg: string, data: Buffer, key: KeyObject, dsaEncoding?: 'ieee-p1363') =>
  new Promise<Buffer>((res, rej) => sign(alg, data, dsaEncoding ? { key, dsaEncoding } : key, (e, s) => (e ? rej(e) : res(s))));

/** What a reference server does with a parsed body besides echoing it: the row's cryptography alone. */
export type Operation = (body: any) => unknown;

/**
 * A bare hono JSON echo behind exactly the dialect's transport (the same HTTPS listener, TLS settings
 * and, for OVH, client-certificate request), its body read and parsed as the dialects read theirs:
 * what the plumbing costs when the gateway does nothing.
 *
 * `ops` are the same server doing one row's cryptography and nothing else (no identity, key lookup,
 * validation, audit or vendor encoding), at `/op/<name>`. Between the echo and a dialect, it says how
 * much of the gap is the crypto a KMS cannot skip and how much its own plumbing.
 */
export function referenceServer(ca: Ca, mtls: boolean, ops: Record<string, Operation> = {}): Promise<HttpsServer> {
  const app = new Hono();
  app.post('/echo', async (c) => c.json(JSON.parse(await readText(c))));
  app.post('/op/:name', async (c) => {
    const op = ops[c.req.param('name')];
    if (!op) return c.json({ error: 'no such operation' }, 404);
    return c.json((await op(JSON.parse(await readText(c)))) as object);
  });
  return serveHttps(app.fetch, ca, { host: '127.0.0.1', port: 0, requestClientCertificate: mtls });
}

/** What the load generator sends to a reference server: the echo of `body`, or operation `op` on it. */
export const referenceRequest = (op: string | undefined, body: unknown, headers?: Record<string, string>): LoadRequest => ({
  method: 'POST',
  path: op ? `/op/${op}` : '/echo',
  body: JSON.stringify(body),
  ...(headers ? { headers } : {}),
});

/** The reference server in this process, called by the same load generator as the gateway (on a thread). */
export async function echoBaseline(
  ca: Ca,
  opts: { mtls: boolean; tls: ConnectionOptions; concurrency: number; headers?: Record<string, string> },
  ops: Record<string, Operation> = {},
) {
  const server = await referenceServer(ca, opts.mtls, ops);
  const client = new RemoteClient(server.port, opts.tls, opts.concurrency);
  return {
    post: (body: unknown) => client.post('/echo', body, opts.headers),
    op: (name: keyof typeof ops & string, body: unknown) => client.post(`/op/${name}`, body, opts.headers),
    load: (request: LoadRequest) => client.load(request),
    async close() {
      await client.close();
      await server.close();
    },
  };
}

/** Keys for the reference servers' cryptography: made by the gateway's side, handed to the reference's process. */
export interface RefMaterial {
  /** AES-256, hex. */
  aes: string;
  /** RSA-2048 and EC P-256 private keys, PKCS#8 PEM. */
  rsa: string;
  ec: string;
}

export function referenceMaterial(): RefMaterial {
  const pem = (k: KeyObject) => k.export({ format: 'pem', type: 'pkcs8' }) as string;
  return {
    aes: randomBytes(32).toString('hex'),
    rsa: pem(generateKeyPairDetached('rsa', { modulusLength: 2048 }).privateKey),
    ec: pem(generateKeyPairDetached('ec', { namedCurve: 'P-256' }).privateKey),
  };
}

/** The material as keys (parsed once, as the gateway's key cache holds them). */
export const referenceKeys = (m: RefMaterial) => ({
  aes: Buffer.from(m.aes, 'hex'),
  rsa: createPrivateKey(m.rsa),
  ec: createPrivateKey(m.ec),
});

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
