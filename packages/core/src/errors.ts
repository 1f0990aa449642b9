/**
 * The one error type core throws. Each dialect maps `kind` to its own status code and body; only
 * `message` (written to be safe: no key material, no SQL, no stack) may reach a client.
 */
export const ERROR_KINDS = [
  'not_found',
  'invalid_argument',
  'failed_precondition',
  'unsupported',
  'unauthenticated',
  'permission_denied',
  'conflict',
  'resource_exhausted',
  'unavailable',
  'internal',
] as const;
export type ErrorKind = (typeof ERROR_KINDS)[number];

export class KmsError extends Error {
  override readonly name = 'KmsError';
  constructor(
    readonly kind: ErrorKind,
    message: string,
    /** Machine-readable hint for dialects that need a finer code (e.g. `key_state`, `cipher_text`). */
    readonly reason?: string,
  ) {
    super(message);
  }

  /** The key a refusal was about (its kind, operations and state), for dialects whose codes depend on it. */
  key?: { kind: string; ops: string[]; state: string } | undefined;
}

export const isKmsError = (e: unknown): e is KmsError => e instanceof KmsError;

export const notFound = (what = 'key') => new KmsError('not_found', `${what} not found`, 'not_found');
export const invalid = (message: string, reason?: string) => new KmsError('invalid_argument', message, reason);

/** Errors from the database driver when the server is gone; everything else unknown is internal. */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  '57P01',
  '57P02',
  '57P03',
  '08000',
  '08003',
  '08006',
  '08001',
  '08004',
]);

/** Turns anything thrown into a KmsError whose message is safe to show. */
export function toKmsError(e: unknown): KmsError {
  if (e instanceof KmsError) return e;
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) {
    return new KmsError('unavailable', 'the key store is unavailable; retry later', 'database');
  }
  const msg = e instanceof Error ? e.message : '';
  if (
    /Connection terminated|connect ECONNREFUSED|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
      msg,
    )
  ) {
    return new KmsError('unavailable', 'the key store is unavailable; retry later', 'database');
  }
  return new KmsError('internal', 'internal error', 'internal');
}
