import { createHash, randomBytes } from 'node:crypto';
import { connect as tcpConnect } from 'node:net';
import { connect } from 'node:tls';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa, issueClientCertificate, loadCa, type Ca } from '@polykms/pki';
import { request as httpsRequest } from 'node:https';
import { readBody } from './body.ts';
import { serveHttps, type HttpsServer } from './https.ts';
import { CoalescedResponse } from './runtime/coalesce.ts';
import { limitBody } from './observe.ts';

describe('serveHttps', () => {
  let ca: Ca;
  let server: HttpsServer;
  let lateRead: Promise<string> | undefined;
  beforeAll(async () => {
    ca = await loadCa(await createCa({ commonName: 'polykms test CA', validityDays: 3650 }));
    const app = new Hono();
    app.get('/', (c) => c.text('ok'));
    app.get('/coalesced', (c) => c.json({ coalesced: (c.env as { outgoing: unknown }).outgoing instanceof CoalescedResponse }));
    app.use(
      '/body',
      limitBody(1000, (c) => c.json({ refused: true }, 413)),
    );
    app.post('/late', async (c) => {
      await new Promise((r) => setTimeout(r, 200));
      lateRead = readBody(c).then(
        () => 'read',
        (e: Error) => `refused: ${e.message}`,
      );
      return c.json({ outcome: await lateRead });
    });
    app.post('/body', async (c) => {
      const b = await readBody(c);
      const again = await readBody(c);
      return c.json({ length: b.length, sha: createHash('sha256').update(b).digest('hex'), same: again.equals(b) });
    });
    server = await serveHttps(app.fetch as never, ca, { host: '127.0.0.1', port: 0, requestClientCertificate: true });
  });
  afterAll(async () => server?.close());

  // Dialects read a connection's client certificate once; renegotiating to present another is refused.
  it('answers over TLS 1.2 and refuses a renegotiation', async () => {
    const client = await issueClientCertificate(ca, { commonName: 'c1', upn: 'okms.domain:test', validityDays: 1 });
    const socket = connect({
      host: '127.0.0.1',
      port: server.port,
      ca: ca.certPem,
      cert: client.certPem,
      key: client.privateKeyPem,
      servername: 'localhost',
      maxVersion: 'TLSv1.2',
    });
    await new Promise<void>((res, rej) => socket.once('secureConnect', res).once('error', rej));
    expect(socket.getProtocol()).toBe('TLSv1.2');
    const reply = await new Promise<string>((res) => {
      let got = '';
      socket.on('data', (d) => {
        got += d;
        if (got.includes('\r\n\r\nok')) res(got);
      });
      socket.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
    });
    expect(reply).toMatch(/^HTTP\/1\.1 200/);
    const outcome = await new Promise<string>((res) => {
      socket.on('error', (e) => res(`error: ${e.message}`));
      socket.on('close', () => res('closed'));
      const started = socket.renegotiate({ rejectUnauthorized: false }, (err) => res(err ? `error: ${err.message}` : 'renegotiated'));
      if (!started) res('not started');
    });
    expect(outcome).not.toBe('renegotiated');
    socket.destroy();
  });

  it('answers HEAD as GET without the body', async () => {
    const call = (method: string) =>
      new Promise<{ status: number; type: string | undefined; body: string }>((resolve, reject) =>
        httpsRequest({ host: '127.0.0.1', port: server.port, path: '/', method, ca: ca.certPem, servername: 'localhost' }, (res) => {
          let t = '';
          res.on('data', (d) => (t += d));
          res.on('end', () => resolve({ status: res.statusCode!, type: res.headers['content-type'], body: t }));
        })
          .on('error', reject)
          .end(),
      );
    const get = await call('GET');
    expect(get).toMatchObject({ status: 200, body: 'ok' });
    expect(await call('HEAD')).toEqual({ ...get, body: '' });
    // A target Node accepts and a web Request would not (an absolute URL with credentials).
    for (const method of ['GET', 'HEAD'])
      expect(await raw(`${method} https://u:p@localhost/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`, false)).toMatch(
        /^HTTP\/1\.1 200/,
      );
  });

  it('writes its responses at the end of the turn (coalesce.ts)', async () => {
    const r = await new Promise<string>((resolve, reject) =>
      httpsRequest({ host: '127.0.0.1', port: server.port, path: '/coalesced', ca: ca.certPem, servername: 'localhost' }, (res) => {
        let t = '';
        res.on('data', (d) => (t += d));
        res.on('end', () => resolve(t));
      })
        .on('error', reject)
        .end(),
    );
    expect(JSON.parse(r)).toEqual({ coalesced: true });
  });

  /** Raw TLS: writes `request`, then half-closes (FIN) at once when `halfClose`; resolves with all it read until the server closed. */
  const raw = (request: string, halfClose: boolean) =>
    new Promise<string>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: server.port, ca: ca.certPem, servername: 'localhost' }, () => {
        socket.write(request);
        if (halfClose) socket.end();
      });
      let got = '';
      socket.on('data', (d) => (got += d));
      socket.on('close', () => resolve(got));
      socket.on('error', reject);
      setTimeout(() => socket.destroy(), 3000);
    });

  it('closes promptly with answers written in the same turn (their connections become idle, not kept alive)', async () => {
    const s2 = await serveHttps(((_: Request) => new Response('ok')) as never, ca, { host: '127.0.0.1', port: 0 });
    // And a client that hung up before its TLS handshake does not hold the listener open (it would,
    // half-open, with allowHalfOpen).
    const early = tcpConnect(s2.port, '127.0.0.1');
    await new Promise((r) => early.once('connect', r));
    early.end();
    const socket = connect({ host: '127.0.0.1', port: s2.port, ca: ca.certPem, servername: 'localhost' });
    await new Promise<void>((res, rej) => socket.once('secureConnect', res).once('error', rej));
    socket.on('error', () => undefined);
    const answered = new Promise((r) => socket.once('data', r));
    socket.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
    // Close while the answer is still queued for the end of the turn.
    await new Promise<void>((r) => s2.server.once('request', () => r()));
    const t = performance.now();
    await s2.close();
    expect(performance.now() - t).toBeLessThan(2000);
    await answered;
    socket.destroy();
    early.destroy();
  });

  it('a pipelining client cannot make one turn run thousands of its requests: answers go out by 64 at most', async () => {
    let handled = 0;
    const s2 = await serveHttps(((_: Request) => new Response(String(++handled))) as never, ca, {
      host: '127.0.0.1',
      port: 0,
    });
    const socket = connect({ host: '127.0.0.1', port: s2.port, ca: ca.certPem, servername: 'localhost' });
    await new Promise<void>((res, rej) => socket.once('secureConnect', res).once('error', rej));
    socket.on('error', () => undefined);
    socket.pause(); // a client that sends and does not read
    socket.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'.repeat(20_000));
    await new Promise((r) => setTimeout(r, 1500));
    // Node's own back-pressure (it stops reading a client whose answers pile up) still applies.
    expect(handled).toBeGreaterThan(0);
    expect(handled).toBeLessThan(3000);
    socket.destroy();
    await s2.close();
  });

  /** Sends `body` with a Content-Length, or in chunks (no length) when `chunked`. */
  const post = (body: Buffer, chunked: boolean) =>
    new Promise<{ status: number; connection: string | undefined; json: any }>((resolve, reject) => {
      const req = httpsRequest(
        {
          host: '127.0.0.1',
          port: server.port,
          path: '/body',
          method: 'POST',
          ca: ca.certPem,
          servername: 'localhost',
          headers: chunked ? {} : { 'content-length': body.length },
        },
        (res) => {
          let t = '';
          res.on('data', (d) => (t += d));
          res.on('end', () => resolve({ status: res.statusCode!, connection: res.headers.connection, json: JSON.parse(t) }));
        },
      );
      req.on('error', (e) =>
        (e as NodeJS.ErrnoException).code === 'ECONNRESET' || (e as NodeJS.ErrnoException).code === 'EPIPE' ? undefined : reject(e),
      );
      if (chunked) for (let i = 0; i < body.length; i += 300) req.write(body.subarray(i, i + 300));
      else req.write(body);
      req.end();
    });

  it.each([false, true])('reads a body whole, once, up to the limit, and refuses one over it (chunked: %s)', async (chunked) => {
    for (const n of [0, 1, 999, 1000]) {
      const b = randomBytes(n);
      const r = await post(b, chunked);
      expect(r.status).toBe(200);
      expect(r.json).toEqual({ length: n, sha: createHash('sha256').update(b).digest('hex'), same: true });
    }
    const over = await post(randomBytes(1001), chunked);
    expect(over.status).toBe(413);
    expect(over.json).toEqual({ refused: true });
    expect(over.connection).toBe('close');
  });

  it('reads a body that came with its headers and one that came later, and the connection carries the next request', async () => {
    const socket = connect({ host: '127.0.0.1', port: server.port, ca: ca.certPem, servername: 'localhost' });
    await new Promise<void>((res, rej) => socket.once('secureConnect', res).once('error', rej));
    let got = '';
    socket.on('data', (d) => (got += d));
    const replies = async (n: number) => {
      for (let i = 0; i < 200 && (got.match(/\r\n\r\n\{[^}]*\}/g) ?? []).length < n; i++) await new Promise((r) => setTimeout(r, 10));
      return (got.match(/\r\n\r\n(\{[^}]*\})/g) ?? []).map((m) => JSON.parse(m.slice(4)));
    };
    const head = (n: number) => `POST /body HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${n}\r\n\r\n`;
    const a = randomBytes(700);
    const b = randomBytes(900);
    const sha = (x: Buffer) => createHash('sha256').update(x).digest('hex');
    // Headers and body in one write: the parser has the whole body before the handler asks for it.
    socket.write(Buffer.concat([Buffer.from(head(a.length)), a]));
    expect((await replies(1))[0]).toEqual({ length: 700, sha: sha(a), same: true });
    // Headers first, the body in two pieces later, on the same connection.
    socket.write(head(b.length));
    await new Promise((r) => setTimeout(r, 50));
    socket.write(b.subarray(0, 400));
    await new Promise((r) => setTimeout(r, 20));
    socket.write(b.subarray(400));
    expect((await replies(2))[1]).toEqual({ length: 900, sha: sha(b), same: true });
    // And once more whole, then an empty body.
    socket.write(Buffer.concat([Buffer.from(head(a.length)), a, Buffer.from(head(0))]));
    expect((await replies(4)).slice(2)).toEqual([
      { length: 700, sha: sha(a), same: true },
      { length: 0, sha: sha(Buffer.alloc(0)), same: true },
    ]);
    socket.destroy();
  });

  it('a body whose client left before the handler read it is refused, not awaited for ever', async () => {
    const socket = connect({ host: '127.0.0.1', port: server.port, ca: ca.certPem, servername: 'localhost' });
    await new Promise<void>((res, rej) => socket.once('secureConnect', res).once('error', rej));
    socket.on('error', () => undefined);
    socket.write('POST /late HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}');
    await new Promise((r) => setTimeout(r, 50));
    socket.destroy();
    for (let i = 0; i < 50 && !lateRead; i++) await new Promise((r) => setTimeout(r, 20));
    const outcome = await Promise.race([lateRead!, new Promise((r) => setTimeout(() => r('still waiting'), 2000))]);
    expect(outcome).toMatch(/^refused/);
  });
  // curl sends `Expect: 100-continue` for a large body: an oversized Content-Length is answered before
  // the client is asked for the body, so it reads the 413 instead of a reset in the middle of its upload.
  it('answers an oversized Content-Length before asking for the body, and asks only when the body is read', async () => {
    const open = async () => {
      const socket = connect({ host: '127.0.0.1', port: server.port, ca: ca.certPem, servername: 'localhost' });
      await new Promise<void>((res, rej) => socket.once('secureConnect', res).once('error', rej));
      let got = '';
      socket.on('data', (d) => (got += d));
      const until = (what: RegExp) =>
        new Promise<string>((res, rej) => {
          const t = setInterval(() => {
            if (what.test(got)) {
              clearInterval(t);
              res(got);
            }
          }, 10);
          socket.once('close', () =>
            setTimeout(() => (clearInterval(t), what.test(got) ? res(got) : rej(new Error(`closed with: ${got}`))), 50),
          );
        });
      return { socket, until, got: () => got };
    };
    const big = await open();
    big.socket.write(
      'POST /body HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 10485760\r\nExpect: 100-continue\r\n\r\n',
    );
    const refused = await big.until(/\{"refused":true\}/);
    expect(refused).toMatch(/^HTTP\/1\.1 413 /);
    expect(refused).not.toMatch(/100 Continue/);
    expect(refused).toMatch(/\r\nconnection: close\r\n/i);
    big.socket.destroy();

    const small = await open();
    const body = JSON.stringify({ hello: 'world' });
    small.socket.write(
      `POST /body HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`,
    );
    expect(await small.until(/^HTTP\/1\.1 100 Continue\r\n\r\n/)).toBe('HTTP/1.1 100 Continue\r\n\r\n');
    small.socket.write(body);
    const answer = await small.until(/"same":true/);
    expect(answer).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
    expect(answer).toContain(`"length":${body.length}`);
    small.socket.destroy();

    // Answered without reading the body (here a route that never reads it): no 100 Continue either.
    const unread = await open();
    unread.socket.write('GET / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n');
    const ok = await unread.until(/\r\n\r\nok/);
    expect(ok).toMatch(/^HTTP\/1\.1 200 /);
    unread.socket.destroy();
  });
});
