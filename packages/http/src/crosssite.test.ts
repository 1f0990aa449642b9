import { request as httpsRequest } from 'node:https';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa, loadCa } from '@polykms/pki';
import { refuseCrossSite } from './crosssite.ts';
import { serveHttps, type HttpsServer } from './https.ts';

/** A listener whose routes record that they ran; refusals in a body of the test's own shape. */
function app(allowOrigins?: string[]) {
  const ran: string[] = [];
  const a = new Hono();
  a.use(refuseCrossSite((c, reason) => c.json({ refused: reason }, 403), { allowOrigins }));
  a.on(['GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'PATCH', 'DELETE'], '/x', (c) => {
    ran.push(c.req.method);
    return c.body(null, 204);
  });
  return { a, ran };
}

describe('refuseCrossSite', () => {
  const own = 'https://kms.example:8443';
  const send = (a: Hono, method: string, headers: Record<string, string>) => a.request(`${own}/x`, { method, headers });

  it('refuses a foreign Origin on every state-changing method, whatever the content type, before the route runs', async () => {
    const { a, ran } = app();
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE'])
      for (const type of [
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'text/plain',
        'application/json',
        undefined,
      ]) {
        const r = await send(a, method, { origin: 'https://evil.example', ...(type ? { 'content-type': type } : {}) });
        expect(r.status, `${method} ${type}`).toBe(403);
        expect(((await r.json()) as { refused: string }).refused).toMatch(/Origin https:\/\/evil\.example/);
      }
    expect(ran).toEqual([]);
  });

  it('refuses Origin: null, another port or scheme of the same host, and Sec-Fetch-Site cross-site or same-site without Origin', async () => {
    const { a, ran } = app();
    for (const h of [
      { origin: 'null' },
      { origin: 'https://kms.example:8444' },
      { origin: 'http://kms.example:8443' },
      { origin: 'https://kms.example.evil.example:8443' },
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
    ] as Record<string, string>[])
      expect((await send(a, 'POST', h)).status, JSON.stringify(h)).toBe(403);
    expect(ran).toEqual([]);
  });

  it('lets through safe methods, same-origin browsers, allowed origins and clients that are not browsers', async () => {
    const { a, ran } = app(['https://client-side-encryption.google.com']);
    for (const method of ['GET', 'HEAD', 'OPTIONS'])
      expect((await send(a, method, { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' })).status).toBe(204);
    expect((await send(a, 'POST', {})).status).toBe(204);
    expect((await send(a, 'POST', { 'content-type': 'application/x-www-form-urlencoded' })).status).toBe(204);
    expect((await send(a, 'POST', { origin: own, 'sec-fetch-site': 'same-origin' })).status).toBe(204);
    expect((await send(a, 'DELETE', { 'sec-fetch-site': 'same-origin' })).status).toBe(204);
    expect((await send(a, 'POST', { 'sec-fetch-site': 'none' })).status).toBe(204);
    // Workspace's browser client is cross-site by nature; its origin is configured.
    expect((await send(a, 'POST', { origin: 'https://client-side-encryption.google.com', 'sec-fetch-site': 'cross-site' })).status).toBe(
      204,
    );
    expect(ran).toEqual(['GET', 'HEAD', 'OPTIONS', 'POST', 'POST', 'POST', 'DELETE', 'POST', 'POST']);
  });

  describe('on a real HTTPS listener (the own origin as Node builds the request URL)', () => {
    let server: HttpsServer;
    let caPem: string;
    beforeAll(async () => {
      const ca = await loadCa(await createCa({ commonName: 'polykms test CA', validityDays: 3650 }));
      caPem = ca.certPem;
      server = await serveHttps(app().a.fetch as never, ca, { host: '127.0.0.1', port: 0 });
    });
    afterAll(async () => server?.close());
    const post = (headers: Record<string, string>) =>
      new Promise<number>((res, rej) => {
        const req = httpsRequest(
          {
            host: '127.0.0.1',
            port: server.port,
            path: '/x',
            method: 'POST',
            ca: caPem,
            servername: 'localhost',
            headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
          },
          (r) => {
            r.resume();
            r.on('end', () => res(r.statusCode!));
          },
        );
        req.on('error', rej);
        req.end();
      });

    it('accepts its own https origin and refuses another', async () => {
      expect(await post({ host: `localhost:${server.port}`, origin: `https://localhost:${server.port}` })).toBe(204);
      expect(await post({ host: `localhost:${server.port}`, origin: `http://localhost:${server.port}` })).toBe(403);
      expect(await post({ host: `localhost:${server.port}`, origin: 'https://evil.example' })).toBe(403);
      expect(await post({})).toBe(204);
    });
  });
});
