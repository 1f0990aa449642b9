import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa, loadCa, type Ca } from './ca.ts';
import { issueClientCertificate } from './client.ts';
import { parseClientCertificate } from './inspect.ts';
import { issueServerCertificate } from './server.ts';
import { expectKmsError, openssl, publicKeyPem, workdir, type Workdir } from './test-helpers.ts';

const DAY_MS = 86_400_000;

describe('client access certificates', () => {
  let dir: Workdir;
  let ca: Ca;
  const okmsId = randomUUID();
  const upn = `okms.domain:${okmsId}`;

  /** A CSR made by `openssl req -new`, with a subject and a CA request the CA must ignore. */
  const opensslCsr = (name: string, keyArgs: string[]) => {
    const key = dir.path(`${name}.key`);
    openssl(['genpkey', ...keyArgs, '-out', key]);
    const csr = dir.path(`${name}.csr`);
    openssl([
      'req',
      '-new',
      '-key',
      key,
      '-subj',
      '/CN=chosen-by-requester/O=Evil Corp',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-out',
      csr,
    ]);
    return dir.read(`${name}.csr`);
  };

  beforeAll(async () => {
    dir = workdir();
    const material = await createCa({ commonName: 'CCMUsersCA', validityDays: 1000 });
    ca = await loadCa(material);
    dir.write('ca.pem', material.certPem);
  });
  afterAll(() => dir.remove());

  it('issues the OVH access-certificate shape with a generated EC P-256 key', async () => {
    const before = Date.now();
    const credentialId = randomUUID();
    const issued = await issueClientCertificate(ca, { commonName: credentialId, upn, validityDays: 365 });
    const file = dir.write('client.pem', issued.certPem);

    expect(openssl(['verify', '-x509_strict', '-purpose', 'sslclient', '-CAfile', dir.path('ca.pem'), file])).toMatch(/client.pem: OK/);
    const text = openssl(['x509', '-in', file, '-noout', '-text']);
    expect(text).toMatch(new RegExp(`Subject: CN = ${credentialId}\\n`));
    expect(text).toMatch(/Issuer: CN = CCMUsersCA/);
    expect(text).toMatch(new RegExp(`X509v3 Subject Alternative Name: critical\\s+othername: UPN::${upn}\\n`));
    expect(text).toMatch(/X509v3 Extended Key Usage: \s+TLS Web Client Authentication\n/);
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Key Agreement\n/);
    expect(text).toMatch(/NIST CURVE: P-256/);
    // The UPN is an otherName of type 1.3.6.1.4.1.311.20.2.3 holding a UTF8String.
    const asn1 = openssl(['asn1parse', '-in', file, '-i']);
    const critical = /:X509v3 Subject Alternative Name\s*\n.*BOOLEAN\s+:255\s*\n\s*(\d+):d=\d+.*OCTET STRING/.exec(asn1);
    expect(critical, 'a critical subjectAltName').not.toBeNull();
    const san = openssl(['asn1parse', '-in', file, '-strparse', critical![1]!]);
    expect(san).toMatch(/OBJECT\s+:Microsoft User Principal Name/);
    expect(san).toMatch(new RegExp(`UTF8STRING\\s+:${upn}`));

    // 126 random bits, positive: 16 bytes whose first is 0x40..0x7f.
    expect(issued.serialNumber).toMatch(/^[4-7][0-9a-f]{31}$/);
    expect(openssl(['x509', '-in', file, '-noout', '-serial'])).toBe(`serial=${issued.serialNumber.toUpperCase()}\n`);
    expect(issued.notAfter.getTime() - before).toBeGreaterThanOrEqual(365 * DAY_MS - 1000);
    expect(issued.notAfter.getTime() - Date.now()).toBeLessThanOrEqual(365 * DAY_MS);
    expect(issued.notBefore.getTime()).toBeLessThanOrEqual(before);
    expect(issued.fingerprintSha256).toBe(
      openssl(['x509', '-in', file, '-noout', '-fingerprint', '-sha256']).split('=')[1]!.trim().replaceAll(':', '').toLowerCase(),
    );
    expect(issued.keyType).toBe('EC');

    expect(issued.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    dir.write('client.key', issued.privateKeyPem!);
    expect(publicKeyPem('pkey', dir.path('client.key'))).toBe(publicKeyPem('x509', file));

    const identity = parseClientCertificate(issued.certPem);
    expect(identity).toMatchObject({
      commonName: credentialId,
      upns: [upn],
      issuerDn: 'CN=CCMUsersCA',
      serialNumber: issued.serialNumber,
      fingerprintSha256: issued.fingerprintSha256,
    });
  });

  it('generates an RSA 2048 key when asked', async () => {
    const issued = await issueClientCertificate(ca, { commonName: 'rsa-cred', upn, validityDays: 1, keyType: 'RSA' });
    const file = dir.write('rsa-client.pem', issued.certPem);
    const text = openssl(['x509', '-in', file, '-noout', '-text']);
    expect(text).toMatch(/Public-Key: \(2048 bit\)/);
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment\n/);
    dir.write('rsa-client.key', issued.privateKeyPem!);
    expect(publicKeyPem('pkey', dir.path('rsa-client.key'))).toBe(publicKeyPem('x509', file));
    expect(issued.keyType).toBe('RSA');
  });

  it.each([
    ['RSA 2048', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'], 'RSA', /Digital Signature, Key Encipherment/],
    ['EC P-256', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'], 'EC', /Digital Signature, Key Agreement/],
    ['EC P-384', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'], 'EC', /Digital Signature, Key Agreement/],
    ['EC P-521', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-521'], 'EC', /Digital Signature, Key Agreement/],
  ] as const)(
    'certifies the key of an openssl req %s CSR, with the CA choosing subject and extensions',
    async (name, keyArgs, keyType, usage) => {
      const slug = name.replace(' ', '-');
      const csrPem = opensslCsr(slug, [...keyArgs]);
      const issued = await issueClientCertificate(ca, { commonName: 'cred-from-csr', upn, validityDays: 30, csrPem });
      const file = dir.write(`${slug}.pem`, issued.certPem);

      expect(issued.privateKeyPem).toBeUndefined();
      expect(issued.keyType).toBe(keyType);
      expect(publicKeyPem('x509', file)).toBe(publicKeyPem('req', dir.path(`${slug}.csr`)));
      expect(openssl(['verify', '-CAfile', dir.path('ca.pem'), file])).toMatch(/OK/);
      const text = openssl(['x509', '-in', file, '-noout', '-text']);
      expect(text).toMatch(/Subject: CN = cred-from-csr\n/);
      expect(text).not.toMatch(/Evil Corp|chosen-by-requester|CA:TRUE/);
      expect(text).toMatch(usage);
      expect(text).toMatch(new RegExp(`critical\\s+othername: UPN::${upn}`));
    },
  );

  it("accepts a SHA-1 self-signature, as on the OVH guide's sample CSR: it only proves possession of the key", async () => {
    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', dir.path('sha1.key')]);
    openssl(['req', '-new', '-sha1', '-key', dir.path('sha1.key'), '-subj', '/CN=x', '-out', dir.path('sha1.csr')]);
    expect(openssl(['req', '-in', dir.path('sha1.csr'), '-noout', '-text'])).toMatch(/Signature Algorithm: ecdsa-with-SHA1/);
    const issued = await issueClientCertificate(ca, {
      commonName: 'sha1',
      upn,
      validityDays: 1,
      csrPem: dir.read('sha1.csr'),
    });
    expect(openssl(['x509', '-in', dir.write('sha1.pem', issued.certPem), '-noout', '-text'])).toMatch(
      /Signature Algorithm: ecdsa-with-SHA384/,
    );
  });

  it('refuses a CSR whose signature was tampered with', async () => {
    const csrPem = opensslCsr('tamper', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']);
    const der = Buffer.from(csrPem.replace(/-----[^-]+-----/g, '').replace(/\s/g, ''), 'base64');
    const toPem = (bytes: Buffer) =>
      `-----BEGIN CERTIFICATE REQUEST-----\n${bytes.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE REQUEST-----\n`;

    const badSignature = Buffer.from(der);
    badSignature[badSignature.length - 1]! ^= 0x01;
    await expectKmsError(
      issueClientCertificate(ca, { commonName: 'c', upn, validityDays: 1, csrPem: toPem(badSignature) }),
      'invalid_argument',
      /signature does not verify/,
    );

    // A changed subject keeps the structure valid but no longer matches what was signed.
    const at = der.indexOf(Buffer.from('chosen-by-requester'));
    const badSubject = Buffer.from(der);
    badSubject[at] = 'C'.charCodeAt(0);
    await expectKmsError(
      issueClientCertificate(ca, { commonName: 'c', upn, validityDays: 1, csrPem: toPem(badSubject) }),
      'invalid_argument',
      /signature does not verify/,
    );
  });

  it('refuses weak or unsupported CSR keys, saying what is accepted', async () => {
    const cases: [string, string[], RegExp][] = [
      ['rsa1024', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024'], /RSA key is 1024 bits; at least 2048 are required/],
      [
        'rsa-e3',
        ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-pkeyopt', 'rsa_keygen_pubexp:3'],
        /public exponent 3 is not accepted/,
      ],
      ['k256', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:secp256k1'], /EC key on secp256k1; accepted are/],
      ['ed25519', ['-algorithm', 'ED25519'], /ed25519 key; accepted are/],
    ];
    for (const [name, keyArgs, message] of cases) {
      const csrPem = opensslCsr(name, keyArgs);
      await expectKmsError(issueClientCertificate(ca, { commonName: 'c', upn, validityDays: 1, csrPem }), 'invalid_argument', message);
    }
  });

  it('refuses a malformed CSR PEM', async () => {
    const server = await issueServerCertificate(ca, { dnsNames: ['x.test'], validityDays: 1 });
    const cases: [unknown, RegExp][] = [
      ['', /BEGIN CERTIFICATE REQUEST/],
      ['hello', /BEGIN CERTIFICATE REQUEST/],
      ['-----BEGIN CERTIFICATE REQUEST-----\n!!!notbase64!!!\n-----END CERTIFICATE REQUEST-----\n', /not valid PEM: .* base64/],
      ['-----BEGIN CERTIFICATE REQUEST-----\nAAECAwQFBgcICQ==\n-----END CERTIFICATE REQUEST-----\n', /not a valid PKCS#10/],
      [server.certPem, /BEGIN CERTIFICATE REQUEST/],
      [server.certPem.replaceAll('CERTIFICATE', 'CERTIFICATE REQUEST'), /not a valid PKCS#10/],
      [42, /BEGIN CERTIFICATE REQUEST/],
    ];
    for (const [csrPem, message] of cases) {
      await expectKmsError(
        issueClientCertificate(ca, { commonName: 'c', upn, validityDays: 1, csrPem: csrPem as string }),
        'invalid_argument',
        message,
      );
    }
  });

  it('refuses a validity outside 1..365 days and other bad parameters', async () => {
    for (const validityDays of [0, 366, 1.5, -3]) {
      await expectKmsError(issueClientCertificate(ca, { commonName: 'c', upn, validityDays }), 'invalid_argument', /from 1 to 365; got/);
    }
    await expectKmsError(issueClientCertificate(ca, { commonName: '', upn, validityDays: 1 }), 'invalid_argument', /common name/);
    await expectKmsError(issueClientCertificate(ca, { commonName: 'x'.repeat(65), upn, validityDays: 1 }), 'invalid_argument', /1 to 64/);
    await expectKmsError(issueClientCertificate(ca, { commonName: 'c', upn: '', validityDays: 1 }), 'invalid_argument', /UPN/);
    await expectKmsError(
      issueClientCertificate(ca, { commonName: 'c', upn, validityDays: 1, keyType: 'DSA' as never }),
      'invalid_argument',
      /EC or RSA/,
    );
    await expectKmsError(
      issueClientCertificate(ca, { commonName: 'c', upn, validityDays: 1, keyType: 'toString' as never }),
      'invalid_argument',
      /EC or RSA/,
    );
    const csrPem = opensslCsr('mismatch', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']);
    await expectKmsError(
      issueClientCertificate(ca, { commonName: 'c', upn, validityDays: 1, csrPem, keyType: 'RSA' }),
      'invalid_argument',
      /keyType RSA does not match the CSR, which has an EC P-256 key/,
    );
  });

  it('reads the identity from DER or PEM, and refuses what is not a certificate', async () => {
    const issued = await issueClientCertificate(ca, { commonName: 'der-cred', upn, validityDays: 1 });
    const der = Buffer.from(issued.certPem.replace(/-----[^-]+-----/g, '').replace(/\s/g, ''), 'base64');
    expect(parseClientCertificate(der)).toEqual(parseClientCertificate(issued.certPem));
    expect(parseClientCertificate(new Uint8Array(der)).upns).toEqual([upn]);

    const server = await issueServerCertificate(ca, { dnsNames: ['x.test'], validityDays: 1 });
    expect(parseClientCertificate(server.certPem)).toMatchObject({ commonName: 'x.test', upns: [] });

    await expectKmsError(() => parseClientCertificate('garbage'), 'invalid_argument', /BEGIN CERTIFICATE/);
    await expectKmsError(() => parseClientCertificate(Buffer.from('not der')), 'invalid_argument', /not a valid X.509 certificate/);
  });
});
