import { KmsError } from '@polykms/core';
import type { Ca } from './ca.ts';
import { verifyCsr } from './csr.ts';
import { certificateFacts, type CertificateFacts } from './inspect.ts';
import { issueCertificate } from './issue.ts';
import { generateKeyPair, type KeyPairSpec, type KeyType } from './keys.ts';
import { derToPem } from './pem.ts';
import { x509 } from './provider.ts';
import { checkCommonName, checkUpn } from './validate.ts';
import { checkValidityDays } from './validity.ts';

/** OVH's maximum `validity` for an access certificate. */
export const CLIENT_MAX_VALIDITY_DAYS = 365;

const GENERATED_KEYS: Record<KeyType, KeyPairSpec> = {
  EC: { type: 'EC', curve: 'P-256' },
  RSA: { type: 'RSA', bits: 2048 },
};

export interface ClientCertificateOptions {
  /** Subject CN: the credential id. */
  commonName: string;
  /** The UPN otherName of the subjectAltName, e.g. `okms.domain:<okmsId>`. */
  upn: string;
  validityDays: number;
  /** PKCS#10 request; its key is certified, its subject and extensions are ignored. */
  csrPem?: string | undefined;
  /** Key generated when there is no CSR: EC P-256 (default) or RSA 2048. With a CSR it must match the CSR's key. */
  keyType?: KeyType | undefined;
  /** When the validity starts counting (now by default). */
  issuedAt?: Date | undefined;
}

export interface ClientCertificate extends CertificateFacts {
  certPem: string;
  /** PKCS#8 PEM of the generated key; only when no CSR was given, and never obtainable again. */
  privateKeyPem?: string;
  keyType: KeyType;
}

/** An OVH-shaped access certificate: CN = credential id, critical SAN with the UPN, EKU clientAuth. */
export async function issueClientCertificate(ca: Ca, options: ClientCertificateOptions): Promise<ClientCertificate> {
  const commonName = checkCommonName(options.commonName, 'the client certificate');
  const upn = checkUpn(options.upn);
  const validityDays = checkValidityDays(options.validityDays, CLIENT_MAX_VALIDITY_DAYS, 'a client certificate');
  const asked = options.keyType;
  if (asked !== undefined && !Object.hasOwn(GENERATED_KEYS, asked)) {
    throw new KmsError('invalid_argument', `keyType must be EC or RSA; got ${String(asked)}`, 'key_type');
  }

  let spkiDer: ArrayBuffer | Uint8Array;
  let keyType: KeyType;
  let privateKeyPem: string | undefined;
  if (options.csrPem !== undefined) {
    const csr = await verifyCsr(options.csrPem);
    if (asked !== undefined && asked !== csr.keyType) {
      throw new KmsError('invalid_argument', `keyType ${asked} does not match the CSR, which has an ${csr.keyDescription} key`, 'key_type');
    }
    ({ spkiDer, keyType } = csr);
  } else {
    keyType = asked ?? 'EC';
    const pair = await generateKeyPair(GENERATED_KEYS[keyType]);
    spkiDer = pair.spkiDer;
    privateKeyPem = derToPem(pair.pkcs8Der, 'PRIVATE KEY');
  }

  const usages =
    x509.KeyUsageFlags.digitalSignature |
    // What TLS 1.2 key exchange needs beside signatures: ECDH for EC keys, RSA key transport for RSA keys.
    (keyType === 'EC' ? x509.KeyUsageFlags.keyAgreement : x509.KeyUsageFlags.keyEncipherment);
  const cert = await issueCertificate(ca, {
    commonName,
    spkiDer,
    validityDays,
    issuedAt: options.issuedAt,
    extensions: [
      // Critical as in OVH's certificates, so a verifier that cannot read the UPN refuses the certificate.
      new x509.SubjectAlternativeNameExtension([{ type: 'upn', value: upn }], true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      new x509.KeyUsagesExtension(usages, true),
    ],
  });
  return {
    certPem: derToPem(cert.rawData, 'CERTIFICATE'),
    ...(privateKeyPem === undefined ? {} : { privateKeyPem }),
    keyType,
    ...certificateFacts(cert),
  };
}
