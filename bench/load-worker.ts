import { createHash } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { canonicalRequest, formatSdkDate, signString, stringToSign } from '@polykms/huawei';
import { LoadClient } from './client.ts';
import { closedLoop, openLoop } from './harness.ts';
import type { LoadRequest } from './load.ts';
import { serveRpc } from './rpc.ts';

/**
 * The load generator's thread, or process (its settings then in argv[2]): one keep-alive client for
 * one server, closed loops on request.
 */
const { port, tls, connections, staleMs } = (workerData ?? JSON.parse(process.argv[2]!)) as {
  port: number;
  tls: object;
  connections: number;
  staleMs?: number;
};
const client = new LoadClient(port, tls, connections, staleMs);

/** Huawei's SDK signing, done per request as the SDK does: content-type;host;x-project-id;x-sdk-date over the raw body. */
function akskHeaders(r: LoadRequest, aksk: NonNullable<LoadRequest['aksk']>): Record<string, string> {
  const h: Record<string, string> = {
    'content-type': 'application/json',
    host: `127.0.0.1:${port}`,
    'x-project-id': aksk.project,
    'x-sdk-date': formatSdkDate(new Date()),
  };
  const cr = canonicalRequest({
    method: r.method,
    canonicalUri: `${r.path}/`,
    canonicalQuery: '',
    signedHeaders: Object.keys(h),
    header: (n) => h[n],
    payloadHash: createHash('sha256').update(r.body).digest('hex'),
  });
  return {
    ...h,
    authorization: `SDK-HMAC-SHA256 Access=${aksk.access}, SignedHeaders=${Object.keys(h).join(';')}, Signature=${signString(aksk.secret, stringToSign(h['x-sdk-date']!, cr))}`,
  };
}

const operation = (r: LoadRequest) => async () => {
  const headers = { 'content-type': 'application/json', ...r.headers, ...(r.aksk ? akskHeaders(r, r.aksk) : {}) };
  const reply = await client.request(r.method, r.path, r.body, headers);
  if (reply.status < 200 || reply.status >= 300) throw new Error(`${r.method} ${r.path}: ${reply.status} ${reply.body}`);
};

// A process goes with the bench that started it.
if (!parentPort) process.on('disconnect', () => process.exit(0));
const port_ = parentPort ?? process;
const send = parentPort ? (m: object) => parentPort!.postMessage(m) : (m: object) => process.send!(m);
type Call = { request: LoadRequest; concurrency: number; ms: number; requests?: number; perSec?: number } | { close: true };
serveRpc(port_, send, async (m: Call) => {
  if ('close' in m) {
    await client.close();
    return;
  }
  const op = operation(m.request);
  return {
    measure: await (m.perSec ? openLoop(op, m.perSec, m.concurrency, m.ms) : closedLoop(op, m.concurrency, m.ms, m.requests)),
  };
});
