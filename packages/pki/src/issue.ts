import { KmsError } from '@polykms/core';
import type { Ca } from './ca.ts';
import { x509 } from './provider.ts';
import { randomSerialHex } from './serial.ts';
import { validityWindow } from './validity.ts';

export interface IssueRequest {
  commonName: string;
  spkiDer: ArrayBuffer | Uint8Array;
  validityDays: number;
  /** Everything but the key identifiers, which are added here. */
  extensions: x509.Extension[];
  /** When the validity starts counting (now by default; tests issue already-expired certificates). */
  issuedAt?: Date | undefined;
}

/** The part every certificate the CA signs has in common: serial, names, dates, key identifiers. */
export async function issueCertificate(ca: Ca, request: IssueRequest): Promise<x509.X509Certificate> {
  const now = request.issuedAt ?? new Date();
  if (now.getTime() >= ca.notAfter.getTime()) {
    throw new KmsError('failed_precondition', `the CA certificate expired on ${ca.notAfter.toISOString()}; renew the CA`, 'ca_expired');
  }
  const { notBefore, notAfter } = validityWindow(request.validityDays, now);
  if (notAfter.getTime() > ca.notAfter.getTime()) {
    // A certificate must not outlive its issuer: clients would reject it on the day the CA expires.
    throw new KmsError(
      'failed_precondition',
      `the CA certificate expires on ${ca.notAfter.toISOString()}, before a ${request.validityDays}-day certificate would; ask for fewer days or renew the CA`,
      'ca_expiry',
    );
  }
  return x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: [{ CN: [request.commonName] }],
    issuer: ca.certificate.subjectName,
    notBefore,
    notAfter,
    publicKey: request.spkiDer,
    signingKey: ca.signingKey.key,
    signingAlgorithm: ca.signingKey.algorithm,
    extensions: [
      ...request.extensions,
      await x509.SubjectKeyIdentifierExtension.create(request.spkiDer),
      new x509.AuthorityKeyIdentifierExtension(ca.keyIdentifier),
    ],
  });
}
