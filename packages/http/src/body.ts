import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import { invalid } from '@polykms/core';

const read = new WeakMap<IncomingMessage, Promise<Buffer>>();

/**
 * A client that closed its connection (or reset it) before its request was read is the client's doing:
 * a 400 in the dialect's body (which nobody reads), not Node's `aborted` error, whose ECONNRESET code
 * read as "the key store is unavailable" (a 503, logged at error level, counted as a 5xx).
 */
const gone = () => invalid('the client closed the connection before its request was read', 'body');

/**
 * `e` as the client's abort when it is one: Node's `aborted` error while this request's connection is
 * gone (its body cut short, or whole but not yet read when the client hung up). Anything else, a
 * database connection reset while the client is still there, is left as is.
 */
export function clientGone(c: Context, e: unknown): unknown {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  const abort = (e as { code?: unknown } | null)?.code === 'ECONNRESET' && (e as Error).message === 'aborted';
  return abort && incoming && (incoming.destroyed || !incoming.complete) ? gone() : e;
}

/**
 * The request body as bytes. Behind the Node listener, with a Content-Length (which Node's parser holds
 * the client to, and `limitBody` has checked), it is read straight from the IncomingMessage: no web
 * stream and no Request object (profiled at ~40 us per request). Otherwise (chunked bodies, which
 * `limitBody` wraps in a counting stream, or `app.request()` in tests) through the web Request.
 */
export function readBody(c: Context): Promise<Buffer> {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (!incoming || incoming.headers['content-length'] === undefined || incoming.headers['transfer-encoding'] !== undefined) {
    return c.req.arrayBuffer().then(
      (b) => Buffer.from(b),
      (e) => {
        throw clientGone(c, e);
      },
    );
  }
  let p = read.get(incoming);
  if (!p) {
    p = new Promise<Buffer>((resolve, reject) => {
      // Already gone (the client closed before the handler got here): its listeners would never fire.
      if (incoming.destroyed || incoming.readableEnded) return reject(gone());
      const chunks: Buffer[] = [];
      incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
      incoming.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
      incoming.once('error', () => reject(gone()));
      incoming.once('close', () => {
        if (!incoming.readableEnded) reject(gone());
      });
    });
    read.set(incoming, p);
  }
  return p;
}

export const readText = async (c: Context) => (await readBody(c)).toString('utf8');
