import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hono } from 'hono';
import { createCa, loadCa, type Ca } from '@polykms/pki';
import { serveHttps, type HttpsServer } from '@polykms/http';
import { echoBaseline } from './baselines.ts';
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

  it('fails the measurement on a non-2xx reply, naming it', async () => {
    const client = new RemoteClient(server.port, { ca: ca.certPem, servername: 'localhost' }, 2);
    try {
      await expect(client.post('/refused', {}).measure(2, 100)).rejects.toThrow(/\/refused: 403 \{"error":"no"\}/);
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
