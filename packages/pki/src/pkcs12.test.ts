import { createPrivateKey } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa, loadCa, type Ca } from './ca.ts';
import { issueClientCertificate, type ClientCertificate } from './client.ts';
import { exportPkcs12 } from './pkcs12.ts';
import { expectKmsError, openssl, opensslStatus, publicKeyPem, workdir, type Workdir } from './test-helpers.ts';

describe('PKCS#12 export', () => {
  let dir: Workdir;
  let ca: Ca;
  let client: ClientCertificate;

  beforeAll(async () => {
    dir = workdir();
    ca = await loadCa(await createCa({ commonName: 'polykms p12 CA', validityDays: 30 }));
    client = await issueClientCertificate(ca, { commonName: 'cred-p12', upn: 'okms.domain:p12', validityDays: 7 });
    dir.write('client.pem', client.certPem);
  });
  afterAll(() => dir.remove());

  it('opens with openssl pkcs12 (PBES2/AES-256-CBC, PBKDF2-SHA256, SHA-256 MAC) and holds the matching key and the chain', async () => {
    const p12 = await exportPkcs12({
      certPem: client.certPem,
      keyPem: client.privateKeyPem!,
      caCertPem: ca.certPem,
      password: 'pw',
    });
    const file = dir.write('client.p12', p12);

    const { ok, output: info } = opensslStatus(['pkcs12', '-in', file, '-passin', 'pass:pw', '-info', '-nokeys']);
    expect(ok).toBe(true);
    expect(info).toMatch(/MAC: sha256, Iteration 100000/);
    expect(info).toMatch(/PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC, Iteration 100000, PRF hmacWithSHA256/);
    expect(info).toMatch(/Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 100000, PRF hmacWithSHA256/);
    expect(info).toMatch(/friendlyName: cred-p12/);

    const extracted = openssl(['pkcs12', '-in', file, '-passin', 'pass:pw', '-nodes']);
    dir.write('extracted.pem', extracted);
    expect(extracted.match(/-----BEGIN CERTIFICATE-----/g)).toHaveLength(2);
    expect(extracted).toMatch(/subject=CN = cred-p12/);
    expect(extracted).toMatch(/subject=CN = polykms p12 CA/);
    // The key and the client certificate carry the same localKeyID, which is how importers pair them.
    const keyIds = [...extracted.matchAll(/localKeyID: ([0-9A-F ]+)/g)].map((m) => m[1]);
    expect(keyIds).toHaveLength(2);
    expect(keyIds[0]).toBe(keyIds[1]);
    // `pkey -in` reads the first key of the file; `x509 -in` the first certificate, which is the client's.
    expect(publicKeyPem('pkey', dir.path('extracted.pem'))).toBe(publicKeyPem('x509', dir.path('client.pem')));
    expect(openssl(['x509', '-in', dir.path('extracted.pem'), '-noout', '-subject'])).toBe('subject=CN = cred-p12\n');

    // Node's own loader (used for `pfx` in tls options) takes it as well.
    expect(() => createSecureContext({ pfx: p12, passphrase: 'pw' })).not.toThrow();
  });

  it('is refused with a wrong password', async () => {
    const p12 = await exportPkcs12({
      certPem: client.certPem,
      keyPem: client.privateKeyPem!,
      password: 'right',
      iterations: 2048,
    });
    const result = opensslStatus(['pkcs12', '-in', dir.write('wrong.p12', p12), '-passin', 'pass:wrong', '-nodes']);
    expect(result.ok).toBe(false);
    expect(result.output).toMatch(/mac verify failure|invalid password/i);
  });

  it('takes a SEC1 EC key (what OVH hands out) and a non-ASCII password', async () => {
    const sec1 = createPrivateKey(client.privateKeyPem!).export({ type: 'sec1', format: 'pem' }).toString();
    expect(sec1).toMatch(/BEGIN EC PRIVATE KEY/);
    const password = 'pässwörd-🔑';
    const p12 = await exportPkcs12({
      certPem: client.certPem,
      keyPem: sec1,
      password,
      iterations: 2048,
      friendlyName: 'my KMS',
    });
    const out = openssl(['pkcs12', '-in', dir.write('sec1.p12', p12), '-passin', `pass:${password}`, '-nodes']);
    expect(out).toMatch(/friendlyName: my KMS/);
    dir.write('sec1.pem', out);
    expect(publicKeyPem('pkey', dir.path('sec1.pem'))).toBe(publicKeyPem('x509', dir.path('client.pem')));
  });

  it("refuses a key that is not the certificate's, an empty password and garbage", async () => {
    const other = await issueClientCertificate(ca, { commonName: 'other', upn: 'okms.domain:p12', validityDays: 1 });
    const base = { certPem: client.certPem, keyPem: client.privateKeyPem!, password: 'pw', iterations: 2048 };
    await expectKmsError(exportPkcs12({ ...base, keyPem: other.privateKeyPem! }), 'invalid_argument', /does not belong to the certificate/);
    await expectKmsError(exportPkcs12({ ...base, password: '' }), 'invalid_argument', /password must be 1 to/);
    await expectKmsError(exportPkcs12({ ...base, keyPem: 'nope' }), 'invalid_argument', /private key/);
    await expectKmsError(exportPkcs12({ ...base, certPem: 'nope' }), 'invalid_argument', /BEGIN CERTIFICATE/);
    await expectKmsError(exportPkcs12({ ...base, caCertPem: 'nope' }), 'invalid_argument', /CA certificate/);
    await expectKmsError(exportPkcs12({ ...base, iterations: 10 }), 'invalid_argument', /iteration count/);
  });
});
