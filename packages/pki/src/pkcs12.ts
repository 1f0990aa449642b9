import { createHash, createPrivateKey } from 'node:crypto';
import * as asn1js from 'asn1js';
import { KmsError } from '@polykms/core';
import { spkiOfPrivateKey } from './keys.ts';
import { pemBlocks, readCertificate } from './pem.ts';
import { pkijs } from './provider.ts';

const OID = {
  keyBag: '1.2.840.113549.1.12.10.1.2', // pkcs8ShroudedKeyBag
  certBag: '1.2.840.113549.1.12.10.1.3',
  friendlyName: '1.2.840.113549.1.9.20',
  localKeyId: '1.2.840.113549.1.9.21',
} as const;

/**
 * OpenSSL 3's own defaults are PBES2/AES-256-CBC with hmacWithSHA256 and a SHA-256 MAC, but with 2048
 * iterations. A password guess is as cheap as the cheaper of the MAC and the encryption, so both use
 * the same, higher count. The MAC's PKCS#12 key derivation runs in JavaScript inside pkijs (Node has no
 * such KDF): about 0.5 s of synchronous work at this count, so call this off any hot request path.
 */
export const PKCS12_DEFAULT_ITERATIONS = 100_000;
const MIN_ITERATIONS = 2048;
const MAX_ITERATIONS = 1_000_000;
const MAX_PASSWORD_CHARS = 1024;
const MAX_KEY_PEM_CHARS = 64 * 1024;

export interface Pkcs12Options {
  certPem: string;
  /** PKCS#8, SEC1 (`EC PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`) PEM, unencrypted. */
  keyPem: string;
  /** One or more CA certificates (PEM) to ship with the key, so importers can show the chain. */
  caCertPem?: string | undefined;
  password: string;
  /** Label shown by browsers and keychains; defaults to the certificate's CN. */
  friendlyName?: string | undefined;
  /** PBKDF2 and MAC iteration count; default PKCS12_DEFAULT_ITERATIONS. */
  iterations?: number | undefined;
}

const bad = (message: string, reason: string) => new KmsError('invalid_argument', message, reason);

/** A password-protected PKCS#12 (.p12/.pfx) as browsers and `openssl pkcs12` import it. */
export async function exportPkcs12(options: Pkcs12Options): Promise<Buffer> {
  const { password } = options;
  if (typeof password !== 'string' || password.length === 0 || password.length > MAX_PASSWORD_CHARS) {
    // Browsers and OpenSSL disagree on what an empty PKCS#12 password means, so there is none.
    throw bad(`the PKCS#12 password must be 1 to ${MAX_PASSWORD_CHARS} characters`, 'password');
  }
  const iterations = options.iterations ?? PKCS12_DEFAULT_ITERATIONS;
  if (!Number.isInteger(iterations) || iterations < MIN_ITERATIONS || iterations > MAX_ITERATIONS) {
    throw bad(`the PKCS#12 iteration count must be a whole number from ${MIN_ITERATIONS} to ${MAX_ITERATIONS}`, 'iterations');
  }
  const cert = readCertificate(options.certPem, 'the certificate');
  const certDer = new Uint8Array(cert.rawData);
  const caCerts = readCaCertificates(options.caCertPem);
  const pkcs8Der = readPrivateKey(options.keyPem, Buffer.from(cert.publicKey.rawData));

  // OpenSSL uses the SHA-1 of the certificate as localKeyId; importers pair key and certificate by it.
  const localKeyId = createHash('sha1').update(certDer).digest();
  const friendlyName = options.friendlyName ?? cert.subjectName.getField('CN')[0];
  const attributes = [
    ...(friendlyName ? [attribute(OID.friendlyName, new asn1js.BmpString({ value: friendlyName }))] : []),
    attribute(OID.localKeyId, new asn1js.OctetString({ valueHex: toArrayBuffer(localKeyId) })),
  ];
  const encryption = {
    password: toArrayBuffer(Buffer.from(password, 'utf8')),
    contentEncryptionAlgorithm: { name: 'AES-CBC', length: 256 },
    hmacHashAlgorithm: 'SHA-256',
    iterationCount: iterations,
  };

  const shrouded = new pkijs.PKCS8ShroudedKeyBag({
    parsedValue: pkijs.PrivateKeyInfo.fromBER(toArrayBuffer(pkcs8Der)),
  });
  await shrouded.makeInternalValues(encryption);
  const keyBag = new pkijs.SafeBag({ bagId: OID.keyBag, bagValue: shrouded, bagAttributes: attributes });
  const certBags = [certBag(certDer, attributes), ...caCerts.map((der) => certBag(der, []))];

  // The layout OpenSSL writes: certificates in an encrypted SafeContents, the shrouded key in a plain one.
  const authenticatedSafe = new pkijs.AuthenticatedSafe({
    parsedValue: {
      safeContents: [
        { privacyMode: 1, value: new pkijs.SafeContents({ safeBags: certBags }) },
        { privacyMode: 0, value: new pkijs.SafeContents({ safeBags: [keyBag] }) },
      ],
    },
  });
  await authenticatedSafe.makeInternalValues({ safeContents: [encryption, {}] });

  const pfx = new pkijs.PFX({ parsedValue: { integrityMode: 0, authenticatedSafe } });
  await pfx.makeInternalValues({
    password: encryption.password,
    iterations,
    pbkdf2HashAlgorithm: 'SHA-256',
    hmacHashAlgorithm: 'SHA-256',
  });
  return Buffer.from(pfx.toSchema().toBER(false));
}

function readCaCertificates(pem: unknown): Uint8Array[] {
  if (pem === undefined) return [];
  return pemBlocks(pem, ['CERTIFICATE'], 'the CA certificate', 'certificate').map(
    (der) => new Uint8Array(readCertificate(der, 'a CA certificate').rawData),
  );
}

/** The key as PKCS#8 DER, after checking it is the certificate's own. */
function readPrivateKey(pem: unknown, certSpki: Buffer): Buffer {
  if (typeof pem !== 'string' || pem.length > MAX_KEY_PEM_CHARS || !pem.includes('PRIVATE KEY-----')) {
    throw bad('the private key must be an unencrypted PEM private key (PKCS#8, EC or RSA)', 'private_key');
  }
  let key;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    throw bad('the private key is not a readable unencrypted PEM private key', 'private_key');
  }
  if (!spkiOfPrivateKey(key).equals(certSpki)) {
    throw bad('the private key does not belong to the certificate', 'private_key');
  }
  return key.export({ type: 'pkcs8', format: 'der' });
}

function attribute(type: string, value: asn1js.BaseBlock): pkijs.Attribute {
  return new pkijs.Attribute({ type, values: [value] });
}

function certBag(der: Uint8Array, bagAttributes: pkijs.Attribute[]): pkijs.SafeBag {
  // certValue as the original bytes: re-encoding a parsed certificate could change what was signed.
  const bagValue = new pkijs.CertBag({
    certId: '1.2.840.113549.1.9.22.1',
    certValue: new asn1js.OctetString({ valueHex: toArrayBuffer(der) }),
  });
  return new pkijs.SafeBag({ bagId: OID.certBag, bagValue, ...(bagAttributes.length ? { bagAttributes } : {}) });
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}
