import { KmsError } from '@polykms/core';
import type { Ca } from './ca.ts';
import { issueCertificate } from './issue.ts';
import { generateKeyPair } from './keys.ts';
import { derToPem } from './pem.ts';
import { x509 } from './provider.ts';
import { checkDnsNames, checkIpAddresses } from './validate.ts';
import { checkValidityDays } from './validity.ts';

/** 825 days, the longest the CA/Browser Forum ever allowed; our own CA, but browsers keep the habit. */
export const SERVER_MAX_VALIDITY_DAYS = 825;

export interface ServerCertificateOptions {
  dnsNames?: string[];
  ipAddresses?: string[];
  validityDays: number;
}

export interface ServerCertificate {
  certPem: string;
  /** PKCS#8 PEM of a fresh EC P-256 key. */
  keyPem: string;
  /** The certificate then the CA certificate: what a TLS server sends as `cert`. */
  chainPem: string;
}

export async function issueServerCertificate(ca: Ca, options: ServerCertificateOptions): Promise<ServerCertificate> {
  const dnsNames = checkDnsNames(options.dnsNames);
  const ipAddresses = checkIpAddresses(options.ipAddresses);
  const firstName = dnsNames[0] ?? ipAddresses[0];
  if (firstName === undefined) {
    throw new KmsError('invalid_argument', 'a server certificate needs at least one DNS name or IP address', 'dns_name');
  }
  const validityDays = checkValidityDays(options.validityDays, SERVER_MAX_VALIDITY_DAYS, 'a server certificate');

  const { spkiDer, pkcs8Der } = await generateKeyPair({ type: 'EC', curve: 'P-256' });
  const cert = await issueCertificate(ca, {
    commonName: firstName,
    spkiDer,
    validityDays,
    extensions: [
      // ECDHE key exchange needs only signatures from an EC server key.
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        ...dnsNames.map((value) => ({ type: 'dns' as const, value })),
        ...ipAddresses.map((value) => ({ type: 'ip' as const, value })),
      ]),
    ],
  });
  const certPem = derToPem(cert.rawData, 'CERTIFICATE');
  return { certPem, keyPem: derToPem(pkcs8Der, 'PRIVATE KEY'), chainPem: certPem + ca.certPem };
}
