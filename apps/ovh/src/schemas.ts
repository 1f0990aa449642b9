import { fromStdBase64 } from '@polykms/http';
import { z } from 'zod';

/**
 * Request bodies of the OVH OpenAPI document (2.16.2), strict like its `additionalProperties: false`.
 * `format: byte` is standard base64 with padding (RFC 4648 §4), as Go's encoding/json sends []byte.
 */
const B64URL_RE = /^[A-Za-z0-9_-]*$/;
const isStdBase64 = (s: string) => fromStdBase64(s) !== undefined;
export const base64 = (max: number) =>
  z.string().min(1).max(max).refine(isStdBase64, { message: 'must be standard base64 with padding (RFC 4648 §4)' });
const b64url = z.string().regex(B64URL_RE, { message: 'must be base64url without padding' });

export const KeyTypes = z.enum(['oct', 'RSA', 'EC']);
export const Curves = z.enum(['P-256', 'P-384', 'P-521']);
export const Usages = z.enum(['sign', 'verify', 'encrypt', 'decrypt', 'wrapKey', 'unwrapKey']);
/**
 * What okms-cli's `--usage` flag accepts: the document's usages plus `deriveKey`/`deriveBits`, which
 * are read here so the refusal can say what is wrong (see `usages` in routes/servicekey.ts).
 */
export const ClientUsages = z.enum([...Usages.options, 'deriveKey', 'deriveBits']);
export const KeyFormatTypes = z.enum(['RAW', 'JWK', 'PKCS1', 'PKCS8']);
export const WrappingAlgorithms = z.enum(['RSA1_5', 'RSA-OAEP', 'RSA-OAEP-256']);
export const WrappedKeyEntry = z.strictObject({
  keyFormatType: KeyFormatTypes,
  wrappingKeyId: z.uuid(),
  ciphertext: z.string().min(1).max(5000),
});
export const SignatureAlgs = z.enum(['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']);
export const RevocationReasons = z.enum([
  'unspecified',
  'key_compromise',
  'ca_compromise',
  'affiliation_changed',
  'superseded',
  'cessation_of_operation',
  'privilege_withdrawn',
]);

export const JsonWebKeyRequest = z.strictObject({
  use: z.enum(['sig', 'enc']).optional(),
  key_ops: z.array(ClientUsages).optional(),
  alg: SignatureAlgs.optional(),
  kty: KeyTypes,
  n: b64url.optional(),
  e: b64url.optional(),
  k: b64url.optional(),
  crv: Curves.optional(),
  x: b64url.optional(),
  y: b64url.optional(),
  d: b64url.optional(),
  dp: b64url.optional(),
  dq: b64url.optional(),
  p: b64url.optional(),
  q: b64url.optional(),
  qi: b64url.optional(),
  kid: z.string().optional(),
});

export const CreateImportServiceKeyRequest = z.strictObject({
  // 2.16.2 dropped `format: uuid` from the document; the server still wants one (a 400 that says so).
  id: z.string().nullable().optional(),
  name: z.string().min(1).max(32),
  context: z.string().max(64).optional(),
  type: KeyTypes.optional(),
  size: z.union([z.literal(128), z.literal(192), z.literal(256), z.literal(2048), z.literal(3072), z.literal(4096)]).optional(),
  // okms-cli sends `"curve": ""` for `--type ec` without `--curve`: read as no curve.
  curve: z
    .union([Curves, z.literal('')])
    .optional()
    .transform((c) => (c === '' ? undefined : c)),
  operations: z.array(ClientUsages).max(32).nullable().optional(),
  protectionLevel: z.enum(['SOFTWARE', 'HSM', 'CLOUD_HSM']).nullable().optional(),
  keys: z.array(JsonWebKeyRequest).nullable().optional(),
  extractable: z.boolean().nullable().optional(),
  wrappedKeys: z.array(WrappedKeyEntry).nullable().optional(),
});

/** 2.16.2: `name` is optional; `extractable` makes a key exportable (or no longer). */
export const PatchServiceKeyRequest = z.strictObject({
  name: z.string().min(1).max(32).optional(),
  extractable: z.boolean().nullable().optional(),
});
export const DeactivateServicekeyRequest = z.strictObject({ reason: RevocationReasons });

/** 5464 base64 characters = 4096 bytes. */
export const EncryptRequest = z.strictObject({
  plaintext: base64(5464),
  context: z.string().max(64).nullable().optional(),
});
/**
 * The document caps `ciphertext` at 5464 characters, but the JWE of a 4096-byte plaintext is longer
 * (the payload alone is 5462 characters): the limit here is what this gateway's own encrypt can return.
 */
export const MAX_JWE = 5800;
export const DecryptRequest = z.strictObject({
  ciphertext: z.string().min(1).max(MAX_JWE),
  context: z.string().max(64).nullable().optional(),
});
export const GenerateDataKeyRequest = z.strictObject({
  name: z.string().max(32).nullable().optional(),
  size: z.number().int().min(64).max(4096),
});
export const DecryptDataKeyRequest = z.strictObject({ key: z.string().min(1).max(5000) });
export const SignRequest = z.strictObject({
  message: base64(5464),
  alg: SignatureAlgs,
  isdigest: z.boolean().optional(),
});
export const VerifyRequest = z.strictObject({
  message: base64(5464).nullable().optional(),
  signature: z.string().min(1).max(8192),
  alg: SignatureAlgs.optional(),
  isdigest: z.boolean().optional(),
});
