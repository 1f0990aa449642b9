import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CoalescedResponse } from './coalesce.ts';

describe('CoalescedResponse', () => {
  let server: Server;
  let port: number;
  const seen: Record<string, unknown> = {};
  const uncaught: unknown[] = [];
  const onUncaught = (e: unknown) => uncaught.push(e);
  const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => void> = {
    // Several responses finished in one turn: none is written before the turn ends.
    '/turn': (_req, res) => {
      res.end('one');
      seen.endedAtOnce = res.writableEnded;
      setImmediate(() => (seen.endedAfterTurn = res.writableEnded));
    },
    '/write-then-end': (_req, res) => {
      res.write('a');
      res.end('b');
    },
    '/end-twice': (_req, res) => {
      // (A second end with data is an error in Node itself, deferred or not: ERR_STREAM_WRITE_AFTER_END.)
      res.end('first');
      res.end();
    },
    // What node:http's `end` throws at once (a bad argument) now throws at the end of the turn.
    '/end-throws': (_req, res) => {
      res.end(123 as never);
    },
    '/end-after-destroy': (_req, res) => {
      res.destroy();
      res.end('never');
      setImmediate(() => setImmediate(() => (seen.destroyedEnd = 'survived')));
    },
  };
  beforeAll(async () => {
    process.on('uncaughtException', onUncaught);
    server = createServer({ ServerResponse: CoalescedResponse }, (req, res) => routes[req.url!]!(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    process.off('uncaughtException', onUncaught);
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const get = (path: string) =>
    new Promise<string>((resolve, reject) => {
      request({ host: '127.0.0.1', port, path }, (res) => {
        let t = '';
        res.on('data', (d) => (t += d));
        res.on('end', () => resolve(t));
      })
        .on('error', reject)
        .end();
    });

  it('defers a response to the end of the turn, then sends it whole', async () => {
    expect(await get('/turn')).toBe('one');
    expect(seen.endedAtOnce).toBe(false);
    expect(seen.endedAfterTurn).toBe(true);
  });

  it('keeps what was written before the end in order, and a second end cannot overtake the first', async () => {
    expect(await get('/write-then-end')).toBe('ab');
    expect(await get('/end-twice')).toBe('first');
  });

  it('an end on a response already destroyed neither throws nor takes the process down', async () => {
    await expect(get('/end-after-destroy')).rejects.toThrow(/socket hang up|ECONNRESET/);
    for (let i = 0; i < 50 && !seen.destroyedEnd; i++) await new Promise((r) => setTimeout(r, 10));
    expect(seen.destroyedEnd).toBe('survived');
    expect(uncaught).toEqual([]);
  });

  it('an end that throws is reported and drops its connection, not the process or the rest of the batch', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      const [bad, good] = await Promise.allSettled([get('/end-throws'), get('/write-then-end')]);
      expect(bad.status).toBe('rejected');
      expect(good).toEqual({ status: 'fulfilled', value: 'ab' });
      expect(logged).toHaveBeenCalledWith(
        'polykms: a response could not be sent',
        expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }),
      );
      expect(uncaught).toEqual([]);
    } finally {
      logged.mockRestore();
    }
  });

  it('many concurrent requests each get their own answer', async () => {
    const answers = await Promise.all(Array.from({ length: 64 }, () => get('/write-then-end')));
    expect(answers).toEqual(Array(64).fill('ab'));
  });
});
