import { KmsError, type KeyKind, type KeyOp, type KeyState } from '@polykms/core';

/**
 * Huawei's two error bodies, in one place: KMS errors nested `{"error":{"error_code","error_msg"}}`
 * with the status of the code table (huawei-kms.md §5.2), and the API gateway's flat
 * `{"error_code":"APIGW.xxxx","error_msg","request_id"}` for authentication and routing (§5.3).
 */
export const KMS = {
  '0103': [500, 'A system exception occurred. Contact technical support.'],
  '0104': [503, 'A system exception occurred. Contact technical support.'],
  '0202': [400, 'Invalid JSON format of the request message.'],
  '0203': [400, 'Request message too long.'],
  '0204': [400, 'Parameters missing in the request message.'],
  '0205': [400, 'Invalid key ID.'],
  '0206': [400, 'Invalid sequence number.'],
  '0207': [404, 'The key does not exist.'],
  '0208': [400, 'Invalid value of value encryption_context.'],
  '0209': [400, 'The key has been disabled.'],
  '0210': [400, 'The key is in Scheduled deletion state and cannot be used.'],
  '0306': [403, 'No access permissions.'],
  '0308': [400, 'Invalid parameter.'],
  '0312': [400, 'External keys cannot be rotated.'],
  '0309': [400, 'External keys required.'],
  '0310': [400, 'The key is not in Pending import state.'],
  '0321': [403, 'URIs in URL and X-Auth-Token do not match.'],
  '0324': [400, 'RSA keys cannot be rotated.'],
  '0325': [400, 'The asymmetric key is not support this operation.'],
  '0329': [400, 'Hash algorithm does not match the digest length.'],
  '0331': [400, 'The symmetric key is not support this operation.'],
  '0332': [400, 'This key is not support the signing algorithm.'],
  '0334': [400, 'The cmk is used to encrypt and decrypt.'],
  '0335': [400, 'The cmk is used to sign and verify.'],
  '0341': [400, 'The hmac key do not support this operation.'],
  '0401': [400, 'Tag list cannot be empty.'],
  '0404': [400, 'Invalid action.'],
  '0405': [400, 'Invalid tag value.'],
  '0406': [400, 'Invalid tag key.'],
  '0409': [400, 'Too many tags.'],
  '0412': [400, 'Invalid tag list.'],
  '0416': [404, 'Invalid tag ID.'],
  '1101': [400, 'Invalid key_alias.'],
  '1103': [400, 'Invalid key_description.'],
  '1104': [400, 'Duplicate key aliases.'],
  '1110': [400, 'Invalid alg_type.'],
  '1114': [400, 'EC keys do not support to encrypt/decrypt.'],
  '1115': [400, 'Symmetric keys do not support to sign/verify.'],
  '1201': [400, 'The key is not disabled.'],
  '1301': [400, 'The key is not enabled.'],
  '1401': [400, 'Set the pending deletion period between 7 to 1096 days.'],
  '1402': [400, 'The key is already in Pending deletion state.'],
  '1501': [400, 'The key is not in Pending deletion state.'],
  '1601': [400, 'Invalid limit.'],
  '1602': [400, 'marker must be greater than or equals 0.'],
  '1801': [400, 'random_data_length must be in the range 8 bits to 8,192 bits.'],
  '1802': [400, 'random_data_length must be a multiple of 8.'],
  '1901': [400, 'datakey_length must be in the range 8 bits to 8,192 bits.'],
  '1902': [400, 'Invalid key_spec.'],
  '1903': [400, 'datakey_length must be a multiple of 8.'],
  '2101': [400, 'Invalid plain_text.'],
  '2103': [400, 'Failed to verify the DEK hash.'],
  '2104': [400, 'The length of plain_text does not match datakey_plain_length.'],
  '2105': [400, 'The symmetric key not support this encryption algorithm.'],
  '2106': [400, 'The rsa key not support this encryption algorithm.'],
  '2108': [400, 'The rsa encryption plain_text is over length.'],
  '2201': [400, 'Invalid cipher_text.'],
  '2204': [400, 'The length of cipher_text does not match datakey_cipher_length.'],
  '2401': [400, 'Specify an operation in addition to create-grant.'],
  '2402': [400, 'Invalid user ID.'],
  '2404': [400, 'Too many CMK grants.'],
  '2501': [400, 'Invalid grant ID.'],
  '2502': [400, 'grant_id and key_id do not match.'],
  '2601': [400, 'Token expired.'],
  '2602': [400, 'Key expiration time must be later than the current time.'],
  '2603': [400, 'Key IDs in the imported key and token do not match.'],
  '2604': [400, 'The external key plaintext length must be 32 bits.'],
  '2605': [400, 'Token verification failed.'],
  '2606': [400, 'You are importing a deleted key again. The imported plaintext must be the same as the deleted key plaintext.'],
  '2608': [400, 'The imported asymmetric private key can not be null.'],
  '2609': [400, 'The imported asymmetric private is invalid.'],
  '2610': [400, 'The temporary key length must be 16 or 32.'],
  '2701': [400, 'Key material is not in Enabled or Disabled state and cannot be deleted.'],
  '2702': [400, 'The imported private key material can not be deleted.'],
  '3001': [400, 'Invalid rotation_interval.'],
} as const satisfies Record<string, readonly [number, string]>;
export type KmsCode = keyof typeof KMS;

export const APIGW = {
  '0101': [404, 'The API does not exist or has not been published in the environment.'],
  '0201': [413, 'Request entity too large.'],
  '0301': [401, 'Incorrect IAM authentication information'],
  '0302': [403, 'The IAM user is not authorized to access the API.'],
  '0308': [429, 'The throttling threshold has been reached.'],
} as const satisfies Record<string, readonly [number, string]>;
export type ApigwCode = keyof typeof APIGW;

/** A KMS error with Huawei's code; `detail` (safe text) is appended to the documented message. */
export class HuaweiError extends Error {
  constructor(
    readonly code: KmsCode,
    readonly detail?: string,
  ) {
    super(detail ? `${KMS[code][1]} ${detail}` : KMS[code][1]);
  }
}

/** An API-gateway refusal (flat body): bad credentials, unknown route, body too large, a cross-site browser request. */
export class ApigwError extends Error {
  constructor(
    readonly code: ApigwCode,
    readonly detail?: string,
  ) {
    super(code === '0301' && detail ? `${APIGW[code][1]}: ${detail}` : (detail ?? APIGW[code][1]));
  }
}

export const kmsBody = (code: string, msg: string) => ({ error: { error_code: code, error_msg: msg } });
export const apigwBody = (code: string, msg: string, requestId: string) => ({
  error_code: code,
  error_msg: msg,
  request_id: requestId,
});

/** What the error handler knows about the request, to pick Huawei's finer code for a core error. */
export interface ErrorContext {
  /** The KMS verb (`encrypt-data`, `sign` ...). */
  op: string;
  /** The key the request named, as stored (looked up only on the error paths that need it). */
  key?: { kind: KeyKind; ops: KeyOp[]; state: KeyState } | undefined;
}

const SIGN_OPS = new Set(['sign', 'verify']);
const MAC_OPS = new Set(['generate-mac', 'verify-mac']);
const ENCRYPT_OPS = new Set([
  'encrypt-data',
  'decrypt-data',
  'create-datakey',
  'create-datakey-without-plaintext',
  'encrypt-datakey',
  'decrypt-datakey',
  're-encrypt',
  'create-rsa-datakey-pair',
  'create-ec-datakey-pair',
]);

/** The KMS code for a state refusal: which state the key is in, and what was asked. */
function stateCode(op: string, state: KeyState | undefined): KmsCode {
  switch (op) {
    case 'enable-key':
      return state === 'pending_deletion' ? '0210' : '1201';
    case 'disable-key':
      return state === 'pending_deletion' ? '0210' : '1301';
    case 'schedule-key-deletion':
      return '1402';
    case 'cancel-key-deletion':
      return '1501';
    case 'delete-imported-key-material':
      return '2701';
  }
  // Huawei documents no code for using a key that waits for its material; KMS.0310 says the opposite.
  if (state === 'pending_import') return '0308';
  if (state === 'pending_deletion') return '0210';
  if (state === 'pre_active') return '1301';
  return '0209';
}

/** The KMS code when the key cannot do what was asked (wrong kind or usage). */
function usageCode(op: string, key: ErrorContext['key'], reason: string | undefined): KmsCode {
  if (reason === 'algorithm' || reason === 'salt_length') return '0332';
  if (!key) return '0308';
  if (SIGN_OPS.has(op)) {
    if (key.kind === 'oct') return '1115';
    if (key.kind === 'HMAC') return '0341';
    if (key.kind === 'RSA' && !key.ops.includes('sign')) return '0334';
    return '0332';
  }
  if (MAC_OPS.has(op)) return key.kind === 'oct' ? '0331' : '0325';
  if (op === 'derive-shared-secret') {
    if (key.kind === 'oct') return '0331';
    if (key.kind === 'HMAC') return '0341';
    // Only a KEY_AGREEMENT key derives: an EC signing key is "used to sign and verify".
    return key.kind === 'EC' ? '0335' : '0325';
  }
  if (ENCRYPT_OPS.has(op)) {
    if (key.kind === 'EC' || key.kind === 'OKP') return '1114';
    if (key.kind === 'HMAC') return '0341';
    if (key.kind === 'RSA') return key.ops.includes('encrypt') ? '2106' : '0335';
    return '2105';
  }
  return '0308';
}

const INVALID_BY_REASON: Record<string, KmsCode> = {
  ciphertext: '2201',
  digest_length: '0329',
  plaintext_size: '2108',
  alias: '1101',
  name: '1101',
  description: '1103',
  pending_days: '1401',
  limit: '1601',
  algorithm: '0332',
  salt_length: '0332',
  data_key_size: '1901',
  length: '1801',
  import_token: '2605',
  import_token_key: '2603',
  import_token_expired: '2601',
  import_expiry: '2602',
  import_length: '2604',
  import_material_differs: '2606',
  import_private_key_missing: '2608',
  import_private_key: '2609',
  import_temporary_key: '2610',
};

/** Refusals about imported material, whatever the key's state. */
const FAILED_BY_REASON: Record<string, KmsCode> = {
  not_pending_import: '0310',
  material_expired: '0308',
  not_external: '0309',
  asymmetric_material: '2702',
};

export interface Rendered {
  status: number;
  body: unknown;
}

/** Anything thrown by a handler, as Huawei answers it. Internal errors never show their cause. */
export function renderError(e: unknown, requestId: string, ctx?: ErrorContext): Rendered {
  if (e instanceof HuaweiError) return { status: KMS[e.code][0], body: kmsBody(`KMS.${e.code}`, e.message) };
  if (e instanceof ApigwError) return { status: APIGW[e.code][0], body: apigwBody(`APIGW.${e.code}`, e.message, requestId) };
  const err = e instanceof KmsError ? e : new KmsError('internal', 'internal error');
  const op = ctx?.op ?? '';
  const nested = (code: KmsCode, detail?: string) => {
    const h = new HuaweiError(code, detail);
    return { status: KMS[code][0], body: kmsBody(`KMS.${code}`, h.message) };
  };
  switch (err.kind) {
    case 'not_found':
      // A grant not found with this key: Huawei's "grant_id and key_id do not match", whether it exists elsewhere or not.
      return nested(err.reason === 'grant' ? '2502' : '0207');
    case 'invalid_argument':
      return nested(INVALID_BY_REASON[err.reason ?? ''] ?? '0308', err.message);
    case 'failed_precondition':
      if (ctx?.key?.state === 'destroyed') return nested('0207');
      if (FAILED_BY_REASON[err.reason ?? '']) return nested(FAILED_BY_REASON[err.reason!]!, err.message);
      return nested(stateCode(op, ctx?.key?.state), err.message);
    case 'unsupported':
      return nested(usageCode(op, ctx?.key, err.reason), err.message);
    case 'conflict':
      return nested(err.reason === 'alias_exists' ? '1104' : '0308', err.message);
    case 'permission_denied':
      return nested('0306', err.message);
    case 'unauthenticated':
      return { status: 401, body: apigwBody('APIGW.0301', `${APIGW['0301'][1]}: ${err.message}`, requestId) };
    case 'resource_exhausted':
      if (err.reason === 'grants_per_key') return nested('2404', err.message);
      return { status: 429, body: apigwBody('APIGW.0308', APIGW['0308'][1], requestId) };
    case 'unavailable':
      return nested('0104');
    default:
      return nested('0103');
  }
}

/** Whether rendering `e` needs the key's kind, usage and state from the store. */
export const needsKey = (e: unknown) => e instanceof KmsError && (e.kind === 'failed_precondition' || e.kind === 'unsupported');
