import { createPrivateKey } from 'node:crypto';
import { KmsError } from '@polykms/core';
import { generateKeyPair, importSigningKey, spkiOfPrivateKey, type KeyPairSpec, type KeyType, type SigningKey } from './keys.ts';
import { derToPem, readCertificate } from './pem.ts';
import { x509 } from './provider.ts';
import { randomSerialHex } from './serial.ts';
import { checkCommonName } from './validate.ts';
import { checkValidityDays, validityWindow } from './validity.ts';

/** Twenty years: long enough for a private CA, short enough to catch a days/seconds mix-up. */
export const CA_MAX_VALIDITY_DAYS = 7300;

const CA_KEYS: Record<KeyType, KeyPairSpec> = { EC: { type: 'EC', curve: 'P-384' }, RSA: { type: 'RSA', bits: 3072 } };

export interface CreateCaOptions {
  commonName: string;
  validityDays: number;
  /** EC P-384 (default) or RSA 3072. */
  keyType?: KeyType;
}

/** What the caller stores: the certificate, and the private key it must keep encrypted. */
export interface CaMaterial {
  certPem: string;
  keyPkcs8Der: Buffer;
}

/** A CA ready to sign, from `loadCa`. Its private key is non-extractable. */
export interface Ca {
  readonly certPem: string;
  readonly certificate: x509.X509Certificate;
  readonly signingKey: SigningKey;
  /** Hex subjectKeyIdentifier, copied into the authorityKeyIdentifier of what it issues. */
  readonly keyIdentifier: string;
  readonly subject: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export async function createCa(options: CreateCaOptions): Promise<CaMaterial> {
  const commonName = checkCommonName(options.commonName, 'the CA');
  const days = checkValidityDays(options.validityDays, CA_MAX_VALIDITY_DAYS, 'the CA certificate');
  const keyType = options.keyType ?? 'EC';
  if (!Object.hasOwn(CA_KEYS, keyType))
    throw new KmsError('invalid_argument', `a CA key type must be EC or RSA; got ${String(keyType)}`, 'key_type');

  const { spkiDer, pkcs8Der } = await generateKeyPair(CA_KEYS[keyType]);
  const signingKey = (await importSigningKey(pkcs8Der))!;
  const { notBefore, notAfter } = validityWindow(days);
  const name = [{ CN: [commonName] }];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: name,
    issuer: name,
    notBefore,
    notAfter,
    publicKey: spkiDer,
    signingKey: signingKey.key,
    signingAlgorithm: signingKey.algorithm,
    extensions: [
      // pathLength 0: this CA signs end-entity certificates only, never another CA.
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(spkiDer),
    ],
  });
  return { certPem: derToPem(cert.rawData, 'CERTIFICATE'), keyPkcs8Der: pkcs8Der };
}

/** Rebuilds a CA from stored bytes, refusing a certificate that is not a CA or a key that is not its own. */
export async function loadCa(material: { certPem: string; keyPkcs8Der: Uint8Array }): Promise<Ca> {
  const certificate = readCertificate(material.certPem, 'the CA certificate');
  const constraints = certificate.getExtension(x509.BasicConstraintsExtension);
  if (!constraints?.ca) {
    throw new KmsError('invalid_argument', 'the CA certificate has no basicConstraints with cA=true', 'ca');
  }
  const usage = certificate.getExtension(x509.KeyUsagesExtension);
  if (usage && !(usage.usages & x509.KeyUsageFlags.keyCertSign)) {
    throw new KmsError('invalid_argument', 'the CA certificate key usage does not allow keyCertSign', 'ca');
  }

  if (!(material.keyPkcs8Der instanceof Uint8Array)) {
    throw new KmsError('invalid_argument', 'the CA private key must be PKCS#8 DER bytes', 'ca');
  }
  let spki: Buffer;
  let signingKey: SigningKey | undefined;
  try {
    spki = spkiOfPrivateKey(createPrivateKey({ key: Buffer.from(material.keyPkcs8Der), format: 'der', type: 'pkcs8' }));
    signingKey = await importSigningKey(material.keyPkcs8Der);
  } catch {
    throw new KmsError('invalid_argument', 'the CA private key is not a readable PKCS#8 key', 'ca');
  }
  if (!signingKey) {
    throw new KmsError('invalid_argument', 'the CA private key must be RSA (2048 bits or more) or EC on P-256, P-384 or P-521', 'ca');
  }
  if (!spki.equals(Buffer.from(certificate.publicKey.rawData))) {
    throw new KmsError('invalid_argument', 'the CA private key does not belong to the CA certificate', 'ca');
  }

  const ski = certificate.getExtension(x509.SubjectKeyIdentifierExtension);
  const keyIdentifier = ski?.keyId ?? Buffer.from(await certificate.publicKey.getKeyIdentifier()).toString('hex');
  return {
    certPem: derToPem(certificate.rawData, 'CERTIFICATE'),
    certificate,
    signingKey,
    keyIdentifier,
    subject: certificate.subject,
    notBefore: certificate.notBefore,
    notAfter: certificate.notAfter,
  };
}
