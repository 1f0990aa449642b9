import { createHash } from 'node:crypto';
import { KmsError } from '@polykms/core';
import { readCertificate } from './pem.ts';
import { x509 } from './provider.ts';

/** The otherName type of a Microsoft User Principal Name; OVH puts `okms.domain:<okmsId>` there. */
export const UPN_OID = '1.3.6.1.4.1.311.20.2.3';

export interface CertificateFacts {
  /** Lowercase hex, without a sign byte. */
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  /** Lowercase hex SHA-256 of the DER certificate. */
  fingerprintSha256: string;
}

export interface ClientIdentity extends CertificateFacts {
  commonName: string | null;
  /** Values of the subjectAltName otherName entries of type UPN, in certificate order. */
  upns: string[];
  /** RFC 4514 string, e.g. `CN=polykms CA`. */
  issuerDn: string;
}

export function certificateFacts(cert: x509.X509Certificate): CertificateFacts {
  return {
    serialNumber: cert.serialNumber.toLowerCase(),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    fingerprintSha256: createHash('sha256').update(new Uint8Array(cert.rawData)).digest('hex'),
  };
}

/**
 * Reads the identity from a peer certificate (PEM, or the DER of `getPeerCertificate().raw`). This
 * does not verify anything: the TLS handshake has already checked the chain and the dates.
 */
export function parseClientCertificate(certDerOrPem: string | Uint8Array): ClientIdentity {
  const cert = readCertificate(certDerOrPem, 'the client certificate');
  try {
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
    const upns = (san?.names.items ?? []).filter((name) => name.type === 'upn').map((name) => name.value);
    return {
      commonName: cert.subjectName.getField('CN')[0] ?? null,
      upns,
      issuerDn: cert.issuer,
      ...certificateFacts(cert),
    };
  } catch {
    // The certificate parsed lazily; a broken extension or name only shows up here.
    throw new KmsError('invalid_argument', 'the client certificate has a malformed subject or subjectAltName', 'certificate');
  }
}
