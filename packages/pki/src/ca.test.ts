import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa, loadCa, type Ca, type CaMaterial } from './ca.ts';
import { issueClientCertificate } from './client.ts';
import { issueServerCertificate } from './server.ts';
import { expectKmsError, openssl, opensslStatus, workdir, type Workdir } from './test-helpers.ts';

describe('certificate authority', () => {
  let dir: Workdir;
  let material: CaMaterial;
  let ca: Ca;

  beforeAll(async () => {
    dir = workdir();
    material = await createCa({ commonName: 'polykms test CA', validityDays: 3650 });
    ca = await loadCa(material);
    dir.write('ca.pem', material.certPem);
  });
  afterAll(() => dir.remove());

  it('creates a self-signed EC P-384 CA that OpenSSL accepts as a trust anchor', () => {
    const text = openssl(['x509', '-in', dir.path('ca.pem'), '-noout', '-text']);
    expect(text).toMatch(/Issuer: CN = polykms test CA/);
    expect(text).toMatch(/Subject: CN = polykms test CA/);
    expect(text).toMatch(/NIST CURVE: P-384/);
    expect(text).toMatch(/Signature Algorithm: ecdsa-with-SHA384/);
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign/);
    expect(text).toMatch(/X509v3 Subject Key Identifier/);
    expect(openssl(['verify', '-x509_strict', '-CAfile', dir.path('ca.pem'), dir.path('ca.pem')])).toMatch(/OK/);
    // The key is stored by the caller: PKCS#8 DER that OpenSSL reads as the CA's own key.
    dir.write('ca.key.der', material.keyPkcs8Der);
    expect(openssl(['pkey', '-inform', 'DER', '-in', dir.path('ca.key.der'), '-pubout'])).toBe(
      openssl(['x509', '-in', dir.path('ca.pem'), '-noout', '-pubkey']),
    );
    expect(ca.subject).toBe('CN=polykms test CA');
    expect(ca.notAfter.getTime() - Date.now()).toBeGreaterThan(3649 * 86_400_000);
  });

  it('issues a server certificate that OpenSSL verifies against the CA', async () => {
    const server = await issueServerCertificate(ca, {
      dnsNames: ['localhost', 'kms.example.test'],
      ipAddresses: ['127.0.0.1', '::1'],
      validityDays: 90,
    });
    const file = dir.write('server.pem', server.certPem);
    expect(openssl(['verify', '-x509_strict', '-purpose', 'sslserver', '-CAfile', dir.path('ca.pem'), file])).toMatch(/server.pem: OK/);
    const text = openssl(['x509', '-in', file, '-noout', '-text']);
    expect(text).toMatch(/Subject: CN = localhost/);
    expect(text).toMatch(/DNS:localhost, DNS:kms.example.test, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1/);
    expect(text).toMatch(/X509v3 Extended Key Usage: \s+TLS Web Server Authentication/);
    expect(text).toMatch(/NIST CURVE: P-256/);
    const caSki = /Subject Key Identifier: \s+([0-9A-F:]+)/.exec(openssl(['x509', '-in', dir.path('ca.pem'), '-noout', '-text']))![1];
    expect(text).toContain(`Authority Key Identifier: \n                ${caSki}`);
    expect(server.chainPem).toBe(server.certPem + material.certPem);
    dir.write('server.key', server.keyPem);
    expect(server.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(openssl(['pkey', '-in', dir.path('server.key'), '-pubout'])).toBe(openssl(['x509', '-in', file, '-noout', '-pubkey']));
  });

  it('creates an RSA 3072 CA when asked, and its certificates verify', async () => {
    const rsaMaterial = await createCa({ commonName: 'polykms RSA CA', validityDays: 30, keyType: 'RSA' });
    const rsaCa = await loadCa(rsaMaterial);
    const caFile = dir.write('rsa-ca.pem', rsaMaterial.certPem);
    expect(openssl(['x509', '-in', caFile, '-noout', '-text'])).toMatch(/Public-Key: \(3072 bit\)[\s\S]*sha256WithRSAEncryption/);
    const client = await issueClientCertificate(rsaCa, {
      commonName: 'cred-rsa-ca',
      upn: 'okms.domain:x',
      validityDays: 7,
    });
    const file = dir.write('rsa-client.pem', client.certPem);
    expect(openssl(['verify', '-CAfile', caFile, file])).toMatch(/OK/);
  });

  it('refuses to reload a CA from a key that is not its own, a certificate that is not a CA, or garbage', async () => {
    const other = await createCa({ commonName: 'other', validityDays: 10 });
    await expectKmsError(loadCa({ certPem: material.certPem, keyPkcs8Der: other.keyPkcs8Der }), 'invalid_argument', /does not belong/);
    await expectKmsError(loadCa({ certPem: material.certPem, keyPkcs8Der: Buffer.from('not a key') }), 'invalid_argument', /PKCS#8/);
    await expectKmsError(loadCa({ certPem: 'garbage', keyPkcs8Der: material.keyPkcs8Der }), 'invalid_argument', /BEGIN CERTIFICATE/);
    const leaf = await issueServerCertificate(ca, { dnsNames: ['leaf.test'], validityDays: 1 });
    await expectKmsError(loadCa({ certPem: leaf.certPem, keyPkcs8Der: material.keyPkcs8Der }), 'invalid_argument', /cA=true/);
  });

  it('refuses bad CA and server parameters with a message saying what is allowed', async () => {
    for (const validityDays of [0, -1, 1.5, 7301, Number.NaN]) {
      await expectKmsError(createCa({ commonName: 'x', validityDays }), 'invalid_argument', /1 to 7300/);
    }
    await expectKmsError(createCa({ commonName: '', validityDays: 1 }), 'invalid_argument', /common name/);
    await expectKmsError(createCa({ commonName: 'x', validityDays: 1, keyType: 'constructor' as never }), 'invalid_argument', /EC or RSA/);
    await expectKmsError(issueServerCertificate(ca, { validityDays: 1 }), 'invalid_argument', /at least one DNS name or IP/);
    await expectKmsError(
      issueServerCertificate(ca, { dnsNames: ['bad name'], validityDays: 1 }),
      'invalid_argument',
      /not a valid DNS name/,
    );
    await expectKmsError(
      issueServerCertificate(ca, { ipAddresses: ['300.1.1.1'], validityDays: 1 }),
      'invalid_argument',
      /not an IPv4 or IPv6/,
    );
    await expectKmsError(issueServerCertificate(ca, { dnsNames: ['a.test'], validityDays: 826 }), 'invalid_argument', /1 to 825/);
  });

  it('refuses a certificate that would outlive the CA', async () => {
    const shortCa = await loadCa(await createCa({ commonName: 'short', validityDays: 30 }));
    await expectKmsError(
      issueClientCertificate(shortCa, { commonName: 'c', upn: 'okms.domain:x', validityDays: 31 }),
      'failed_precondition',
      /expires on .* before a 31-day certificate/,
    );
    const ok = await issueClientCertificate(shortCa, { commonName: 'c', upn: 'okms.domain:x', validityDays: 29 });
    expect(ok.notAfter.getTime()).toBeLessThanOrEqual(shortCa.notAfter.getTime());
  });

  it('is refused by OpenSSL when a certificate was signed by another CA', async () => {
    const otherCa = await loadCa(await createCa({ commonName: 'polykms test CA', validityDays: 10 }));
    const foreign = await issueServerCertificate(otherCa, { dnsNames: ['localhost'], validityDays: 1 });
    const result = opensslStatus(['verify', '-CAfile', dir.path('ca.pem'), dir.write('foreign.pem', foreign.certPem)]);
    expect(result.ok).toBe(false);
    expect(result.output).toMatch(/signature failure|unable to get local issuer/);
  });
});
