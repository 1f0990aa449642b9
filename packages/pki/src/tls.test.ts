import type { AddressInfo } from 'node:net';
import { connect, createServer, type Server, type TLSSocket, type TlsOptions } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa, loadCa, type Ca } from './ca.ts';
import { issueClientCertificate, type ClientCertificate } from './client.ts';
import { parseClientCertificate, type ClientIdentity } from './inspect.ts';
import { issueServerCertificate } from './server.ts';

/** A real mutual-TLS handshake against the gateway's own CA, the way the OVH dialect will run it. */
describe('mTLS with certificates from the CA', () => {
  let ca: Ca;
  let foreign: ClientCertificate;
  const servers: Server[] = [];
  const identities: ClientIdentity[] = [];
  const serverErrors: (Error & { code?: string })[] = [];
  let strictPort: number;
  let lenientPort: number;

  async function listen(options: TlsOptions, onSecure: (socket: TLSSocket) => void): Promise<number> {
    const server = createServer(options, onSecure);
    server.on('tlsClientError', (error) => serverErrors.push(error));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    return (server.address() as AddressInfo).port;
  }

  /** Connects, verifying the server against the CA, and collects whatever the server sends before closing. */
  const attempt = (port: number, client: { cert?: string; key?: string }): Promise<{ reply: string; error?: Error }> =>
    new Promise((resolve) => {
      const socket = connect({ host: '127.0.0.1', port, ca: ca.certPem, ...client });
      let reply = '';
      let error: Error | undefined;
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (reply += chunk));
      // With TLS 1.3 the client's side of the handshake is over before the server judges its certificate,
      // so a refusal shows up later as an alert, a reset, or a plain close, depending on timing.
      socket.on('error', (e) => (error = e));
      socket.on('close', () => resolve(error ? { reply, error } : { reply }));
    });

  beforeAll(async () => {
    ca = await loadCa(await createCa({ commonName: 'polykms mTLS CA', validityDays: 30 }));
    // Same name as our CA, different key: only the signature tells them apart.
    const otherCa = await loadCa(await createCa({ commonName: 'polykms mTLS CA', validityDays: 30 }));
    foreign = await issueClientCertificate(otherCa, { commonName: 'intruder', upn: 'okms.domain:x', validityDays: 1 });

    const tlsCert = await issueServerCertificate(ca, {
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
      validityDays: 1,
    });
    const base = { key: tlsCert.keyPem, cert: tlsCert.chainPem, ca: ca.certPem, requestCert: true };
    strictPort = await listen({ ...base, rejectUnauthorized: true }, (socket) => {
      const identity = parseClientCertificate(socket.getPeerCertificate().raw);
      identities.push(identity);
      socket.end(`hello ${identity.commonName}`);
    });
    // Accepts everyone but says what Node's verification concluded, to show why the strict one refuses.
    lenientPort = await listen({ ...base, rejectUnauthorized: false }, (socket) => {
      socket.end(socket.authorized ? 'authorized' : `unauthorized ${String(socket.authorizationError)}`);
    });
  });
  afterAll(async () => {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  });

  it('accepts a client certificate from the CA and reads its UPN from the peer certificate', async () => {
    const upn = 'okms.domain:0a1b2c3d-0000-4000-8000-000000000001';
    const client = await issueClientCertificate(ca, { commonName: 'credential-1', upn, validityDays: 1 });
    const result = await attempt(strictPort, { cert: client.certPem, key: client.privateKeyPem! });
    expect(result.error).toBeUndefined();
    expect(result.reply).toBe('hello credential-1');
    expect(identities.at(-1)).toEqual({
      commonName: 'credential-1',
      upns: [upn],
      issuerDn: 'CN=polykms mTLS CA',
      serialNumber: client.serialNumber,
      notBefore: client.notBefore,
      notAfter: client.notAfter,
      fingerprintSha256: client.fingerprintSha256,
    });
    expect((await attempt(lenientPort, { cert: client.certPem, key: client.privateKeyPem! })).reply).toBe('authorized');
  });

  it('accepts an RSA client certificate too', async () => {
    const client = await issueClientCertificate(ca, {
      commonName: 'credential-rsa',
      upn: 'okms.domain:rsa',
      validityDays: 1,
      keyType: 'RSA',
    });
    expect((await attempt(strictPort, { cert: client.certPem, key: client.privateKeyPem! })).reply).toBe('hello credential-rsa');
  });

  it('refuses a client certificate from another CA', async () => {
    const before = identities.length;
    const errorsBefore = serverErrors.length;
    const refused = await attempt(strictPort, { cert: foreign.certPem, key: foreign.privateKeyPem! });
    expect(refused.reply).toBe('');
    await expect.poll(() => serverErrors.length).toBe(errorsBefore + 1);
    expect(identities.length).toBe(before);
    // Node verified the chain and it failed on the signature, not on anything else.
    expect((await attempt(lenientPort, { cert: foreign.certPem, key: foreign.privateKeyPem! })).reply).toMatch(
      /^unauthorized (UNABLE_TO_VERIFY_LEAF_SIGNATURE|CERT_SIGNATURE_FAILURE)$/,
    );
  });

  it('refuses a client without a certificate', async () => {
    const errorsBefore = serverErrors.length;
    const anonymous = await attempt(strictPort, {});
    expect(anonymous.reply).toBe('');
    await expect.poll(() => serverErrors.length).toBe(errorsBefore + 1);
    expect(serverErrors.at(-1)?.code).toBe('ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE');
  });
});
