import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hono } from 'hono';
import { createCa, loadCa, type Ca } from '@polykms/pki';
import { serveHttps, type HttpsServer } from '@polykms/http';
import { echoBaseline } from './baselines.ts';
import { openLoop } from './harness.ts';
import { LoadClient } from './client.ts';
import { RemoteClient } from './load.ts';

/** The bench's load generator on its own thread: it must measure, and a refused request must fail the run. */
describe('bench load generator (worker thread)', () => {
  let ca: Ca;
  let server: HttpsServer;
  let seen = 0;
  beforeAll(async () => {
    ca = await loadCa(await createCa({ commonName: 'polykms bench test CA', validityDays: 3650 }));
    const app = new Hono();
    app.post('/ok', async (c) => {
      seen++;
      return c.json({ got: c.req.header('x-auth-token') ?? null, body: await c.req.json() });
    });
    app.post('/refused', (c) => c.json({ error: 'no' }, 403));
    app.get('/port', (c) => c.text(String((c.env as { incoming: { socket: { remotePort: number } } }).incoming.socket.remotePort)));
    server = await serveHttps(app.fetch, ca, { host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => server?.close());

  it('runs a closed loop over TLS from another thread and counts every reply', async () => {
    const client = new RemoteClient(server.port, { ca: ca.certPem, servername: 'localhost' }, 4);
    try {
      // How many fit in the time depends on how busy the machine is: only that some did is certain.
      const m = await client.post('/ok', { a: 1 }, { 'x-auth-token': 't' }).measure(4, 500);
      expect(m.ops).toBeGreaterThan(0);
      // Every request the server answered was counted by the generator (up to those in flight at the end).
      expect(seen).toBeGreaterThanOrEqual(m.ops);
      expect(m.p99Ms).toBeGreaterThanOrEqual(m.p50Ms);
    } finally {
      await client.close();
    }
  });

  it('runs an open loop at a fixed rate from another thread', async () => {
    const client = new RemoteClient(server.port, { ca: ca.certPem, servername: 'localhost' }, 4);
    const before = seen;
    try {
      const m = await client.load({ method: 'POST', path: '/ok', body: '{"a":1}' }, 50).measure(4, 400);
      expect(m.ops).toBeGreaterThan(0);
      // Never more than were due: 50 a second over 400 ms.
      expect(m.ops).toBeLessThanOrEqual(20);
      expect(seen - before).toBe(m.ops);
    } finally {
      await client.close();
    }
  });

  it('fails the measurement on a non-2xx reply, naming it', async () => {
    const client = new RemoteClient(server.port, { ca: ca.certPem, servername: 'localhost' }, 2);
    try {
      await expect(client.post('/refused', {}).measure(2, 100)).rejects.toThrow(/\/refused: 403 \{"error":"no"\}/);
    } finally {
      await client.close();
    }
  });

  it('sends each request on the connection idle longest, so none goes stale below saturation', async () => {
    const client = new LoadClient(server.port, { ca: ca.certPem, servername: 'localhost' }, 4);
    try {
      const port = async () => (await client.request('GET', '/port')).body;
      // Four at once open four connections; one at a time, the next eight go round all four, twice.
      const opened = new Set(await Promise.all([port(), port(), port(), port()]));
      expect(opened.size).toBe(4);
      const used: string[] = [];
      for (let i = 0; i < 8; i++) used.push(await port());
      expect(new Set(used)).toEqual(opened);
      expect(used.slice(4)).toEqual(used.slice(0, 4));
    } finally {
      await client.close();
    }
  });

  it('the echo baseline answers what it was sent', async () => {
    const echo = await echoBaseline(ca, {
      mtls: false,
      tls: { ca: ca.certPem, servername: 'localhost' },
      concurrency: 2,
    });
    try {
      expect((await echo.post({ x: 'y' }).measure(2, 100)).ops).toBeGreaterThan(0);
    } finally {
      await echo.close();
    }
  });
});

describe('open loop', () => {
  it('starts requests as they fall due, never more than `concurrency` at once, latency from when each was due', async () => {
    let inFlight = 0;
    let most = 0;
    // 20 ms each, 400 due a second, 3 at once: at most 150 a second are served, the rest wait their turn.
    const op = () =>
      new Promise<void>((r) => {
        most = Math.max(most, ++inFlight);
        setTimeout(() => {
          inFlight--;
          r();
        }, 20);
      });
    const m = await openLoop(op, 400, 3, 300);
    expect(most).toBe(3);
    expect(m.ops).toBeGreaterThan(0);
    expect(m.ops).toBeLessThanOrEqual(120);
    // Counted from when they were due, the ones that waited for a connection took far longer than 20 ms.
    expect(m.p99Ms).toBeGreaterThan(60);
  });

  it('rejects with the first failure', async () => {
    await expect(openLoop(() => Promise.reject(new Error('refused')), 100, 2, 200)).rejects.toThrow('refused');
  });
});
