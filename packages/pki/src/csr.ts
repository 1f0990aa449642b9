import { createPublicKey, type KeyObject } from 'node:crypto';
import { KmsError } from '@polykms/core';
import { describeKey, type KeyType } from './keys.ts';
import { pemToDer } from './pem.ts';
import { x509 } from './provider.ts';

/** Above this an RSA signature check is slow enough to be a denial-of-service lever. */
const MAX_RSA_BITS = 8192;
const ACCEPTED = 'RSA keys of 2048 to 8192 bits (public exponent 65537 or more) and EC keys on P-256, P-384 or P-521';

export interface VerifiedCsr {
  spkiDer: ArrayBuffer;
  keyType: KeyType;
  /** e.g. `EC P-256`, `RSA 2048`, for messages and logs. */
  keyDescription: string;
}

const refuse = (message: string) => new KmsError('invalid_argument', message, 'csr');

/**
 * Reads a PKCS#10 request and proves the requester holds the private key (the self-signature). Only
 * the public key is kept: the subject and any requested extensions are the CA's to decide.
 */
export async function verifyCsr(csrPem: unknown): Promise<VerifiedCsr> {
  const der = pemToDer(csrPem, ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST'], 'the CSR', 'csr');
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(der);
  } catch {
    throw refuse('the CSR is not a valid PKCS#10 certificate request');
  }

  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' });
  } catch {
    throw refuse(`the CSR's public key cannot be read; accepted are ${ACCEPTED}`);
  }
  const described = describeKey(key);
  let keyDescription: string;
  if (described?.type === 'EC') {
    keyDescription = `EC ${described.curve}`;
  } else if (described?.type === 'RSA') {
    keyDescription = `RSA ${described.bits}`;
    if (described.bits < 2048) throw refuse(`the CSR's RSA key is ${described.bits} bits; at least 2048 are required`);
    if (described.bits > MAX_RSA_BITS) throw refuse(`the CSR's RSA key is ${described.bits} bits; at most ${MAX_RSA_BITS} are accepted`);
    if (described.exponent < 65537n || described.exponent % 2n === 0n) {
      throw refuse(`the CSR's RSA public exponent ${described.exponent} is not accepted; use 65537`);
    }
  } else {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    const what = curve ? `an EC key on ${curve}` : `a ${key.asymmetricKeyType ?? 'unknown'} key`;
    throw refuse(`the CSR has ${what}; accepted are ${ACCEPTED}`);
  }

  let verified = false;
  try {
    verified = await csr.verify();
  } catch {
    verified = false;
  }
  if (!verified) {
    throw refuse('the CSR signature does not verify: the request was altered or not signed by the key it contains');
  }
  return { spkiDer: csr.publicKey.rawData, keyType: described.type, keyDescription };
}
