import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { describe, expect, it } from 'vitest';
import { isKmsError } from '@polykms/core';
import { clientGone, readBody } from './body.ts';
import { limitBody } from './observe.ts';

/** A server whose one route reads its body; what the route threw, once it threw. */
async function server(opts: { limit?: boolean } = {}) {
  const app = new Hono();
  // As the dialects mount it: a chunked body is then read whole by hono's limit before the route.
  if (opts.limit) app.use(limitBody(64 * 1024, (c) => c.json({ error: 'too large' }, 413)));
  let entered!: () => void;
  const inHandler = new Promise<void>((r) => (entered = r));
  let failed!: (e: unknown) => void;
  const thrown = new Promise<unknown>((r) => (failed = r));
  app.post('/', async (c) => {
    entered();
    return c.json({ bytes: (await readBody(c)).length });
  });
  app.onError((e, c) => {
    failed(e);
    return c.json({ error: 'x' }, 400);
  });
  const s = createAdaptorServer({ fetch: app.fetch });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { port: (s.address() as AddressInfo).port, inHandler, thrown, close: () => new Promise((r) => s.close(r)) };
}

describe('readBody', () => {
  for (const limit of [false, true])
    for (const [framing, head, part] of [
      ['Content-Length', 'Content-Length: 100', '0123456789'],
      ['chunked', 'Transfer-Encoding: chunked', '64\r\n0123456789'],
    ] as const)
      for (const how of ['reset', 'FIN'] as const) {
        it(`a client gone in the middle of its body (${framing}, ${how}${limit ? ', behind the body limit' : ''}) is a client error, not the key store unavailable`, async () => {
          const s = await server({ limit });
          try {
            const sock = connect(s.port, '127.0.0.1');
            sock.on('error', () => {});
            sock.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${head}\r\n\r\n${part}`);
            // Behind the limit a chunked body is read before the route: close once the server has it.
            if (limit && framing === 'chunked') await new Promise((r) => setTimeout(r, 100));
            else await s.inHandler;
            if (how === 'FIN') sock.end();
            else sock.destroy();
            const e = await s.thrown;
            expect(isKmsError(e) && e.kind).toBe('invalid_argument');
            expect((e as Error).message).toMatch(/client closed the connection/);
          } finally {
            await s.close();
          }
        });
      }

  it("turns only Node's abort of a request whose client is gone into the client's error", () => {
    const aborted = Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
    const reset = Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' });
    const ctx = (complete: boolean, destroyed: boolean) => ({ env: { incoming: { complete, destroyed } } }) as unknown as Context;
    // Cut short, or whole but not yet read when the client hung up: the client's.
    for (const [complete, destroyed] of [
      [false, true],
      [false, false],
      [true, true],
    ] as const)
      expect(clientGone(ctx(complete, destroyed), aborted)).toMatchObject({ kind: 'invalid_argument', reason: 'body' });
    // The client still there: a database's reset (or anything else) stays what it is.
    expect(clientGone(ctx(true, false), aborted)).toBe(aborted);
    expect(clientGone(ctx(false, true), reset)).toBe(reset);
    const other = new Error('something else');
    expect(clientGone(ctx(false, true), other)).toBe(other);
  });
});
