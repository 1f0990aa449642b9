import { connect } from 'node:tls';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa, issueClientCertificate, loadCa, type Ca } from '@polykms/pki';
import { serveHttps, type HttpsServer } from './https.ts';

describe('serveHttps', () => {
  let ca: Ca;
  let server: HttpsServer;
  beforeAll(async () => {
    ca = await loadCa(await createCa({ commonName: 'polykms test CA', validityDays: 3650 }));
    const app = new Hono();
    app.get('/', (c) => c.text('ok'));
    server = await serveHttps(app.fetch as never, ca, { host: '127.0.0.1', port: 0, requestClientCertificate: true });
  });
  afterAll(async () => server?.close());

  // Dialects read a connection's client certificate once; renegotiating to present another is refused.
  it('answers over TLS 1.2 and refuses a renegotiation', async () => {
    const client = await issueClientCertificate(ca, { commonName: 'c1', upn: 'okms.domain:test', validityDays: 1 });
    const socket = connect({ host: '127.0.0.1', port: server.port, ca: ca.certPem, cert: client.certPem, key: client.privateKeyPem, servername: 'localhost', maxVersion: 'TLSv1.2' });
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
});
