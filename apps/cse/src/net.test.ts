import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CseError } from './errors.ts';
import { httpsCall } from './net.ts';
import { OPENSSL_TIMEOUT_MS } from '../../../packages/core/src/test-openssl.ts';

// A peer's certificate from the OpenSSL CLI (self-signed, for localhost): the peer's CA is itself.
let tls: { key: string; cert: string };
beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), 'polykms-net-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        'k.pem',
        '-out',
        'c.pem',
        '-days',
        '2',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost',
      ],
      { cwd: dir, stdio: 'ignore', timeout: OPENSSL_TIMEOUT_MS },
    );
    tls = { key: readFileSync(join(dir, 'k.pem'), 'utf8'), cert: readFileSync(join(dir, 'c.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const servers: Server[] = [];
afterAll(() => Promise.all(servers.map((s) => new Promise((r) => s.close(r)))));
async function peer(handler: Parameters<typeof createServer>[1]) {
  const s = createServer(tls, handler);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `https://localhost:${(s.address() as AddressInfo).port}/privilegedunwrap`;
}
const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

describe('httpsCall (a peer KACLS, a JWKS)', () => {
  it('reads a peer answer over TLS checked against the peer CA', async () => {
    const url = await peer((_req, res) => res.end('{"key":"AA=="}'));
    expect(await httpsCall(url, { method: 'POST', body: '{}', ca: tls.cert })).toEqual({
      status: 200,
      text: '{"key":"AA=="}',
    });
  });

  it('says the peer broke off its answer, not "the key store is unavailable", when it resets mid-answer', async () => {
    const url = await peer((_req, res) => {
      res.writeHead(200, { 'content-length': '1000' });
      res.write('{"key":"');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const e = await failure(httpsCall(url, { ca: tls.cert }));
    expect(e).toBeInstanceOf(CseError);
    expect(e).toMatchObject({ status: 502, details: 'peer_unreachable' });
    expect((e as Error).message).toMatch(/broke off its answer/);
  });

  it("refuses an answer over its size, an unknown certificate and a peer that is not there, each as the peer's fault", async () => {
    const big = await peer((_req, res) => res.end('x'.repeat(5000)));
    expect(await failure(httpsCall(big, { ca: tls.cert, maxBytes: 1000 }))).toMatchObject({
      status: 502,
      details: 'peer',
    });
    expect(await failure(httpsCall(big))).toMatchObject({ status: 503, details: 'peer_unreachable' });
    expect(await failure(httpsCall('https://localhost:9/x', { ca: tls.cert }))).toMatchObject({
      status: 503,
      details: 'peer_unreachable',
    });
  });
});
