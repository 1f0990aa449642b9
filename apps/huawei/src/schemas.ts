import { fromStdBase64 } from '@polykms/http';
import { z } from 'zod';
import { HuaweiError, type KmsCode } from './errors.ts';

/**
 * Request bodies of the KMS API (huawei-kms.md §2), one schema per body. Unknown fields are ignored,
 * not refused: OTC clients send `realm`, `sequence` and `"rotation_interval":0` where the model has
 * none (§2.5, §9.8). Numbers the models type as strings are accepted as either (§1).
 */
const KEY_ID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
export const ALIAS_RE = /^[a-zA-Z0-9:/_-]{1,255}$/;

const keyId = z.string().regex(KEY_ID_RE, { message: 'must be a 36-character key id (uuid)' });
/** Alias objects' names (create-alias): `alias/` and Huawei's alias characters, 255 at most. */
export const ALIAS_NAME_RE = /^alias\/[a-zA-Z0-9:/_-]{1,249}$/;
/**
 * Where Huawei takes an alias for a key (OTC: "`key_id` may be `alias/xxx`"): a key id, or an `alias/...`
 * name, an alias object's or a key's own; anything else is still a bad key id (KMS.0205).
 */
const keyRef = z.union([keyId, z.string().regex(ALIAS_NAME_RE)], {
  message: 'must be a key id (uuid) or an alias/... name',
});
/** A number the SDK models type as string: "512" and 512 are the same. */
const numStr = z.union([z.string().max(20), z.number()]);
const sequence = z.string().max(36).optional();
const context = z.record(z.string(), z.unknown()).optional();
const aad = z.string().max(128).optional();

export const KEY_SPECS = [
  'AES_256',
  'SM4',
  'RSA_2048',
  'RSA_3072',
  'RSA_4096',
  'EC_P256',
  'EC_P384',
  'SECP256K1',
  'SM2',
  'ED25519',
  'HMAC_256',
  'HMAC_384',
  'HMAC_512',
  'HMAC_SM3',
] as const;
export const KEY_USAGES = ['ENCRYPT_DECRYPT', 'SIGN_VERIFY', 'GENERATE_VERIFY_MAC', 'KEY_AGREEMENT'] as const;
export const SIGNING_ALGORITHMS = [
  'RSASSA_PSS_SHA_256',
  'RSASSA_PSS_SHA_384',
  'RSASSA_PSS_SHA_512',
  'RSASSA_PKCS1_V1_5_SHA_256',
  'RSASSA_PKCS1_V1_5_SHA_384',
  'RSASSA_PKCS1_V1_5_SHA_512',
  'ECDSA_SHA_256',
  'ECDSA_SHA_384',
  'ECDSA_SHA_512',
  'SM2DSA_SM3',
  'ED25519_SHA_512',
  'ED25519_PH_SHA_512',
] as const;
export const ENCRYPTION_ALGORITHMS = ['SYMMETRIC_DEFAULT', 'RSAES_OAEP_SHA_256', 'RSAES_OAEP_SHA_1', 'SM2_ENCRYPT'] as const;
export const MAC_ALGORITHMS = ['HMAC_SHA_256', 'HMAC_SHA_384', 'HMAC_SHA_512', 'HMAC_SM3'] as const;
export const DATAKEY_SPECS = ['AES_256', 'AES_128', 'SM4', 'HMAC_256', 'HMAC_384', 'HMAC_512', 'HMAC_SM3'] as const;

export const CreateKey = z.object({
  key_alias: z.string().regex(ALIAS_RE, { message: 'must match ^[a-zA-Z0-9:/_-]{1,255}$' }),
  key_spec: z.enum(KEY_SPECS).optional(),
  key_usage: z.enum(KEY_USAGES).optional(),
  key_description: z.string().max(255).optional(),
  origin: z.enum(['kms', 'external']).optional(),
  enterprise_project_id: z.string().max(36).optional(),
  keystore_id: z.string().max(36).optional(),
  realm: z.string().max(255).optional(),
  sequence,
});

export const ListKeys = z.object({
  limit: numStr.optional(),
  marker: numStr.optional(),
  key_state: z.union([z.string().regex(/^[1-5]$/, { message: 'must be 1 to 5' }), z.number().int().min(1).max(5)]).optional(),
  key_spec: z.enum([...KEY_SPECS, 'ALL']).optional(),
  enterprise_project_id: z.string().max(36).optional(),
  sequence,
});

export const KeyOnly = z.object({ key_id: keyId, sequence });
export const WRAPPING_ALGORITHMS = ['RSAES_OAEP_SHA_256', 'RSAES_OAEP_SHA_1', 'RSAES_PKCS1_V1_5', 'SM2_ENCRYPT'] as const;
export const GetParametersForImport = z.object({ key_id: keyId, wrapping_algorithm: z.enum(WRAPPING_ALGORITHMS), sequence });
export const ImportKeyMaterial = z.object({
  key_id: keyId,
  import_token: z.string().min(1).max(6144),
  encrypted_key_material: z.string().min(1).max(6144),
  encrypted_privatekey: z.string().max(6144).optional(),
  expiration_time: numStr.optional(),
  sequence,
});
export const KeyRefOnly = z.object({ key_id: keyRef, sequence });
export const ScheduleKeyDeletion = z.object({ key_id: keyId, pending_days: numStr, sequence });
export const UpdateKeyAlias = z.object({
  key_id: keyId,
  key_alias: z.string().regex(ALIAS_RE, { message: 'must match ^[a-zA-Z0-9:/_-]{1,255}$' }),
  sequence,
});
export const UpdateKeyDescription = z.object({ key_id: keyId, key_description: z.string().max(255), sequence });

export const EncryptData = z.object({
  key_id: keyRef,
  plain_text: z.string().min(1).max(4096),
  encryption_algorithm: z.enum(ENCRYPTION_ALGORITHMS).optional(),
  encryption_context: context,
  additional_authenticated_data: aad,
  sequence,
});
export const DecryptData = z.object({
  cipher_text: z.string().min(1).max(8192),
  key_id: keyRef.optional(),
  encryption_algorithm: z.enum(ENCRYPTION_ALGORITHMS).optional(),
  encryption_context: context,
  additional_authenticated_data: aad,
  sequence,
});
export const CreateDatakey = z.object({
  key_id: keyRef,
  key_spec: z.enum(DATAKEY_SPECS).optional(),
  datakey_length: numStr.optional(),
  encryption_context: context,
  additional_authenticated_data: aad,
  sequence,
});
export const EncryptDatakey = z.object({
  key_id: keyRef,
  plain_text: z
    .string()
    .min(1)
    .max(2 * (1024 + 32)),
  datakey_plain_length: numStr,
  encryption_context: context,
  additional_authenticated_data: aad,
  sequence,
});
export const DecryptDatakey = z.object({
  key_id: keyRef,
  cipher_text: z
    .string()
    .min(1)
    .max(4 * 1024),
  datakey_cipher_length: numStr,
  encryption_context: context,
  additional_authenticated_data: aad,
  sequence,
});
export const GenRandom = z.object({ random_data_length: numStr, sequence });
export const ReEncrypt = z.object({
  cipher_text: z.string().min(1).max(8192),
  destination_key_id: keyRef,
  source_key_id: keyRef.optional(),
  source_encryption_algorithm: z.enum(ENCRYPTION_ALGORITHMS).optional(),
  destination_encryption_algorithm: z.enum(ENCRYPTION_ALGORITHMS).optional(),
  source_additional_authenticated_data: aad,
  destination_additional_authenticated_data: aad,
  datakey_cipher_length: numStr.optional(),
  sequence,
});

/** A boolean the models type as boolean; "true"/"false" accepted too, as for numbers (§1). */
const bool = z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]);
export const RSA_PAIR_SPECS = ['RSA_2048', 'RSA_3072', 'RSA_4096'] as const;
export const EC_PAIR_SPECS = ['ECC_NIST_P256', 'ECC_NIST_P384', 'ECC_NIST_P521', 'ECC_SECG_P256K1', 'SM2'] as const;
const pair = { key_id: keyRef, with_plain_text: bool.optional(), additional_authenticated_data: aad, sequence };
export const CreateRsaDatakeyPair = z.object({ ...pair, key_spec: z.enum(RSA_PAIR_SPECS) });
export const CreateEcDatakeyPair = z.object({ ...pair, key_spec: z.enum(EC_PAIR_SPECS) });
export const DeriveSharedSecret = z.object({
  key_id: keyRef,
  key_agreement_algorithm: z.enum(['ECDH']),
  public_key: z.string().min(1).max(1024),
  recipient: z.object({ attestation_document: z.string().optional(), key_encryption_algorithm: z.string().optional() }).optional(),
  sequence,
});

export const Sign = z.object({
  key_id: keyRef,
  message: z.string().max(8192),
  signing_algorithm: z.enum(SIGNING_ALGORITHMS),
  message_type: z.enum(['DIGEST', 'RAW']).optional(),
  sequence,
});
export const Verify = Sign.extend({ signature: z.string().min(1).max(2048) });
export const GenerateMac = z.object({
  key_id: keyRef,
  mac_algorithm: z.enum(MAC_ALGORITHMS),
  message: z.string().min(1).max(8192),
  sequence,
});
export const VerifyMac = GenerateMac.extend({ mac: z.string().min(1).max(256) });

export const RotationInterval = z.object({ key_id: keyId, rotation_interval: numStr, sequence });

const tagKey = z.string().min(1).max(36);
const tagValue = z.string().max(43);
export const AddTag = z.object({ tag: z.object({ key: tagKey, value: tagValue }), sequence });
export const TagsAction = z.object({
  tags: z.array(z.object({ key: tagKey, value: tagValue.optional() })).max(50),
  action: z.enum(['create', 'delete']),
  sequence,
});

/** ListKmsByTags: `tags` AND-ed across keys, a key's `values` OR-ed (none: any value); `matches` on the key's alias. */
export const ResourceInstances = z.object({
  action: z.enum(['filter', 'count']),
  limit: numStr.optional(),
  offset: numStr.optional(),
  tags: z
    .array(z.object({ key: tagKey, values: z.array(tagValue).max(10) }))
    .max(10)
    .optional(),
  matches: z
    .array(z.object({ key: z.literal('resource_name'), value: z.string().max(255) }))
    .max(1)
    .optional(),
  sequence,
});

export const GRANT_OPERATIONS = [
  'create-datakey',
  'create-datakey-without-plaintext',
  'encrypt-datakey',
  'decrypt-datakey',
  'describe-key',
  'create-grant',
  'retire-grant',
  'encrypt-data',
  'decrypt-data',
] as const;
const principal = z.string().regex(/^[a-zA-Z0-9]{1,64}$/, { message: 'must match ^[a-zA-Z0-9]{1,64}$' });
const grantId = z.string().regex(/^[A-Fa-f0-9]{64}$/, { message: 'must be 64 hexadecimal characters' });
export const CreateGrant = z.object({
  key_id: keyId,
  grantee_principal: principal,
  operations: z
    .array(z.enum(GRANT_OPERATIONS))
    .min(1)
    .max(GRANT_OPERATIONS.length * 2),
  name: z.string().regex(ALIAS_RE, { message: 'must match ^[a-zA-Z0-9:/_-]{1,255}$' }).optional(),
  retiring_principal: principal.optional(),
  grantee_principal_type: z.enum(['user', 'domain']).optional(),
  sequence,
});
export const ListGrants = z.object({ key_id: keyId, limit: numStr.optional(), marker: numStr.optional(), sequence });
export const ListRetirableGrants = z.object({ limit: numStr.optional(), marker: numStr.optional(), sequence });
export const GrantOnly = z.object({ key_id: keyId, grant_id: grantId, sequence });

const aliasName = z.string().regex(ALIAS_NAME_RE, { message: 'must match ^alias/[a-zA-Z0-9:/_-]{1,249}$' });
export const CreateAlias = z.object({ key_id: keyId, alias: aliasName, sequence });
export const DeleteAlias = z.object({ key_id: keyId, aliases: z.array(aliasName).min(1).max(100), sequence });
export const AssociateAlias = z.object({ alias: aliasName, target_key_id: keyId, sequence });
export const ListAliasesQuery = z.object({
  key_id: keyId.optional(),
  limit: numStr.optional(),
  marker: aliasName.optional(),
});

/** Which KMS code a bad value of a field gets (huawei-kms.md §5.2); others are KMS.0308. */
const FIELD_CODES: Record<string, KmsCode> = {
  key_id: '0205',
  key_alias: '1101',
  key_description: '1103',
  key_spec: '0308',
  sequence: '0206',
  pending_days: '1401',
  limit: '1601',
  marker: '1602',
  cipher_text: '2201',
  plain_text: '2101',
  encryption_context: '0208',
  datakey_length: '1901',
  random_data_length: '1801',
  rotation_interval: '3001',
  signing_algorithm: '0308',
  tags: '0412',
  tag: '0406',
  grantee_principal: '2402',
  retiring_principal: '2402',
  grant_id: '2501',
  alias: '1101',
  aliases: '1101',
  target_key_id: '0205',
  destination_key_id: '0205',
  source_key_id: '0205',
  datakey_cipher_length: '2204',
};

/** The first problem of a body, as Huawei's code and a message naming the field. */
export function issueError(error: z.ZodError, raw: unknown): HuaweiError {
  const issue = error.issues[0]!;
  const field = String(issue.path[0] ?? '');
  const path = issue.path.join('.');
  const present =
    raw !== null &&
    typeof raw === 'object' &&
    field in (raw as Record<string, unknown>) &&
    (raw as Record<string, unknown>)[field] !== null;
  if (field && !present) return new HuaweiError('0204', `${field} is required.`);
  let msg = issue.message;
  if (issue.code === 'invalid_value' && 'values' in issue) msg = `must be one of ${(issue.values as unknown[]).join(', ')}`;
  if (issue.code === 'too_big' || issue.code === 'too_small')
    msg = issue.message.replace(/^Too (big|small): expected string to have /, 'must have ');
  return new HuaweiError(FIELD_CODES[field] ?? '0308', path ? `${path}: ${msg}` : msg);
}

/** A decimal integer from a string or number field, or Huawei's code for that field. */
export function intOf(v: string | number, code: KmsCode, field: string): number {
  const n = typeof v === 'number' ? v : /^\s*-?\d{1,15}\s*$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isSafeInteger(n)) throw new HuaweiError(code, `${field} must be an integer; got ${JSON.stringify(v)}.`);
  return n;
}

/** Standard base64 with padding; trailing bits that are not zero are accepted ("…FYK=" in Huawei's own sign example). */
export function fromBase64(s: string, code: KmsCode, field: string): Buffer {
  const bytes = fromStdBase64(s);
  if (!bytes) throw new HuaweiError(code, `${field} must be standard base64 with padding.`);
  return bytes;
}

export function fromHex(s: string, code: KmsCode, field: string): Buffer {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) throw new HuaweiError(code, `${field} must be hexadecimal.`);
  return Buffer.from(s, 'hex');
}

export const hexUpper = (b: Uint8Array) => Buffer.from(b).toString('hex').toUpperCase();
