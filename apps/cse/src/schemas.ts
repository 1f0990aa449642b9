import { z } from 'zod';
import { badRequest } from './errors.ts';

/**
 * Request bodies of the KACLS API (https://developers.google.com/workspace/cse/reference), with the
 * documented size limits. Unknown fields are ignored rather than refused: Google adds fields to its
 * requests without notice, and a KACLS that rejected them would break every Workspace client.
 */

/** Sizes from Google's method pages, in bytes after base64 decoding (strings: UTF-8 bytes). */
export const LIMITS = {
  key: 128,
  wrappedKey: 1024,
  wrappedPrivateKey: 8192,
  digest: 128,
  encryptedDek: 1024,
  oaepLabel: 1024,
  reason: 1024,
  resourceName: 128,
  perimeterId: 128,
  spkiHash: 128,
  privateKeyPem: 16 * 1024,
  token: 16 * 1024,
  url: 2048,
} as const;

const maxUtf8 = (max: number, what: string) =>
  z
    .string()
    .refine((s) => Buffer.byteLength(s, 'utf8') <= max, { message: `at most ${max} bytes (UTF-8)`, abort: true })
    .describe(what);

/**
 * Base64 as Google's clients send it: standard with padding. URL-safe or unpadded input is tolerated
 * (one third-party client sends it); anything else is a 400. Output is always standard padded base64.
 */
const B64_RE = /^[A-Za-z0-9+/_-]*={0,2}$/;
export function decodeBase64(s: string, field: string, max: number, min = 1): Buffer {
  const compact = s.replace(/=+$/, '');
  if (
    !B64_RE.test(s) ||
    compact.length % 4 === 1 ||
    (s.length !== compact.length && s.length % 4 !== 0) ||
    (/[+/]/.test(s) && /[-_]/.test(s))
  )
    throw badRequest(`${field}: not valid base64 (standard base64 with padding, RFC 4648 §4)`, field);
  const bytes = Buffer.from(compact.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (bytes.length < min) throw badRequest(`${field}: must not be empty`, field);
  if (bytes.length > max) throw badRequest(`${field}: at most ${max} bytes; got ${bytes.length}`, field);
  return bytes;
}

/** A base64 field: the string is bounded before decoding, so an oversized value never gets decoded. */
const b64 = (max: number) => z.string().max(Math.ceil(max / 3) * 4 + 4, { message: `at most ${max} bytes once decoded` });
const token = z
  .string()
  .min(1, { message: 'is required' })
  .max(LIMITS.token, { message: `at most ${LIMITS.token} characters` });
const reason = maxUtf8(LIMITS.reason, 'reason').optional();
const resourceName = maxUtf8(LIMITS.resourceName, 'resource_name').pipe(z.string().min(1, { message: 'is required' }));
const perimeterId = maxUtf8(LIMITS.perimeterId, 'perimeter_id');

export const WrapRequest = z.object({ authentication: token, authorization: token, key: b64(LIMITS.key), reason });
export const UnwrapRequest = z.object({
  authentication: token,
  authorization: token,
  wrapped_key: b64(LIMITS.wrappedKey),
  reason,
});
export const PrivilegedWrapRequest = z.object({
  authentication: token,
  key: b64(LIMITS.key),
  resource_name: resourceName,
  perimeter_id: perimeterId.optional(),
  reason,
});
export const PrivilegedUnwrapRequest = z.object({
  authentication: token,
  wrapped_key: b64(LIMITS.wrappedKey),
  resource_name: resourceName,
  reason,
});
export const DigestRequest = z.object({ authorization: token, wrapped_key: b64(LIMITS.wrappedKey), reason });
export const RewrapRequest = z.object({
  authorization: token,
  original_kacls_url: z.string().min(1, { message: 'is required' }).max(LIMITS.url),
  wrapped_key: b64(LIMITS.wrappedKey),
  reason,
});
const SIGN_ALGORITHMS = [
  'SHA1withRSA',
  'SHA256withRSA',
  'SHA512withRSA',
  'SHA1withRSA/PSS',
  'SHA256withRSA/PSS',
  'SHA512withRSA/PSS',
] as const;
const DECRYPT_ALGORITHMS = [
  'RSA/ECB/PKCS1Padding',
  'RSA/ECB/OAEPwithSHA-1andMGF1Padding',
  'RSA/ECB/OAEPwithSHA-256andMGF1Padding',
  'RSA/ECB/OAEPwithSHA-512andMGF1Padding',
] as const;
export type SignAlgorithm = (typeof SIGN_ALGORITHMS)[number];
export type DecryptAlgorithm = (typeof DECRYPT_ALGORITHMS)[number];
const signAlgorithm = z.enum(SIGN_ALGORITHMS, { message: `must be one of ${SIGN_ALGORITHMS.join(', ')}` });
const decryptAlgorithm = z.enum(DECRYPT_ALGORITHMS, { message: `must be one of ${DECRYPT_ALGORITHMS.join(', ')}` });

export const PrivateKeySignRequest = z.object({
  authentication: token,
  authorization: token,
  algorithm: signAlgorithm,
  digest: b64(LIMITS.digest),
  rsa_pss_salt_length: z.number().int().min(0).max(1024).nullable().optional(),
  reason,
  wrapped_private_key: b64(LIMITS.wrappedPrivateKey),
});
const decryptFields = {
  authentication: token,
  algorithm: decryptAlgorithm,
  encrypted_data_encryption_key: b64(LIMITS.encryptedDek),
  rsa_oaep_label: b64(LIMITS.oaepLabel).nullable().optional(),
  reason,
  wrapped_private_key: b64(LIMITS.wrappedPrivateKey),
};
export const PrivateKeyDecryptRequest = z.object({ ...decryptFields, authorization: token });
export const PrivilegedPrivateKeyDecryptRequest = z.object({
  ...decryptFields,
  spki_hash: b64(LIMITS.spkiHash),
  spki_hash_algorithm: z.literal('SHA-256', { message: "must be 'SHA-256'" }),
});
export const WrapPrivateKeyRequest = z.object({
  authentication: token,
  perimeter_id: perimeterId.optional(),
  private_key: z
    .string()
    .min(1, { message: 'is required' })
    .max(LIMITS.privateKeyPem, { message: `at most ${LIMITS.privateKeyPem} characters` }),
  reason,
});
export const DelegateRequest = z.object({ authentication: token, authorization: token, reason });

/** A zod failure as one sentence per problem, naming the field. */
export function describeIssues(error: z.ZodError): string[] {
  return error.issues.map((i) => {
    const path = i.path.join('.');
    if (i.code === 'invalid_type' && i.input === undefined) return `${path}: is required`;
    if (i.code === 'invalid_type') return `${path}: must be ${i.expected === 'int' ? 'an integer' : `a ${i.expected}`}`;
    return path ? `${path}: ${i.message}` : i.message;
  });
}
