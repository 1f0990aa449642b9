import { KmsError } from '@polykms/core';
import { x509 } from './provider.ts';

/** Far above any certificate or CSR we make or accept; stops a huge body before it is parsed. */
const MAX_PEM_CHARS = 256 * 1024;

/** The DER bytes of every PEM block with one of `labels` (at least one); anything else is the caller's mistake. */
export function pemBlocks(pem: unknown, labels: readonly string[], what: string, reason: string): Uint8Array[] {
  const expected = `a PEM block starting with -----BEGIN ${labels[0]}-----`;
  if (typeof pem !== 'string' || pem.length === 0) {
    throw new KmsError('invalid_argument', `${what} must be ${expected}`, reason);
  }
  if (pem.length > MAX_PEM_CHARS) throw new KmsError('invalid_argument', `${what} is too large`, reason);
  const label = labels.find((l) => pem.includes(`-----BEGIN ${l}-----`));
  const malformed = () =>
    new KmsError(
      'invalid_argument',
      `${what} is not valid PEM: between -----BEGIN ${label}----- and -----END ${label}----- there must be base64 data`,
      reason,
    );
  let blocks: ReturnType<typeof x509.PemConverter.decodeWithHeaders>;
  try {
    blocks = x509.PemConverter.decodeWithHeaders(pem);
  } catch {
    throw label ? malformed() : new KmsError('invalid_argument', `${what} must be ${expected}`, reason);
  }
  const found = blocks.filter((b) => labels.includes(b.type) && b.rawData.byteLength > 0).map((b) => new Uint8Array(b.rawData));
  if (found.length === 0) {
    // A header of the right kind around bad content deserves a more precise message than "wrong kind".
    throw label ? malformed() : new KmsError('invalid_argument', `${what} must be ${expected}`, reason);
  }
  return found;
}

export const pemToDer = (pem: unknown, labels: readonly string[], what: string, reason: string): Uint8Array =>
  pemBlocks(pem, labels, what, reason)[0]!;

export const derToPem = (der: ArrayBuffer | Uint8Array, label: string): string => `${x509.PemConverter.encode(der, label)}\n`;

/** A certificate given as PEM text or DER bytes (what Node's `getPeerCertificate().raw` holds). */
export function readCertificate(input: unknown, what: string): x509.X509Certificate {
  const der = typeof input === 'string' ? pemToDer(input, ['CERTIFICATE'], what, 'certificate') : input;
  if (!(der instanceof Uint8Array) || der.length === 0) {
    throw new KmsError('invalid_argument', `${what} must be a PEM string or DER bytes`, 'certificate');
  }
  try {
    return new x509.X509Certificate(der);
  } catch {
    throw new KmsError('invalid_argument', `${what} is not a valid X.509 certificate`, 'certificate');
  }
}
