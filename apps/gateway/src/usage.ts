/** A command-line mistake: printed as one line with a hint, exit code 2. */
export class UsageError extends Error {}

/**
 * The CLI's exit status for an error: 2 for bad usage, which includes a value the admin API refused
 * as invalid (HTTP 400: a size the key type does not have, an unknown operation); 1 for an operation
 * refused or failed (not found, conflict, wrong state, unreachable).
 */
export function exitCodeOf(e: unknown): 1 | 2 {
  if (e instanceof UsageError) return 2;
  const x = e as { code?: unknown; status?: unknown; kind?: unknown } | null;
  if (typeof x?.code === 'string' && x.code.startsWith('ERR_PARSE_ARGS')) return 2;
  if (x?.status === 400 || x?.kind === 'invalid_argument' || x?.kind === 'unsupported') return 2;
  return 1;
}
