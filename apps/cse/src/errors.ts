import { KmsError, type ErrorKind } from '@polykms/core';

/**
 * Google's structured error `{code, message, details}` (https://developers.google.com/workspace/cse/reference/structured-errors):
 * `code` is the HTTP status. Google publishes no list; the mapping follows its guidance and what
 * Workspace clients react to: 400 bad input, 401 a bad authentication token, 403 a refused
 * authorization (role, kacls_url, email, perimeter, privileged user), 404 no such route, 413 too large,
 * 415 not JSON, 500/503 the back end. `details` is a short machine-readable reason, never a secret.
 */
export type CseStatus = 400 | 401 | 403 | 404 | 405 | 413 | 415 | 500 | 502 | 503;

export class CseError extends Error {
  constructor(
    readonly status: CseStatus,
    message: string,
    readonly details: string = REASON_BY_STATUS[status],
  ) {
    super(message);
  }
}

const REASON_BY_STATUS: Record<CseStatus, string> = {
  400: 'invalid_argument',
  401: 'unauthenticated',
  403: 'permission_denied',
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'too_large',
  415: 'unsupported_media_type',
  500: 'internal',
  502: 'bad_gateway',
  503: 'unavailable',
};

const BY_KIND: Record<ErrorKind, CseStatus> = {
  invalid_argument: 400,
  failed_precondition: 400,
  unsupported: 400,
  conflict: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  resource_exhausted: 503,
  unavailable: 503,
  internal: 500,
};

export const badRequest = (message: string, details = 'invalid_argument') => new CseError(400, message, details);
export const unauthenticated = (message: string, details = 'authentication') => new CseError(401, message, details);
export const forbidden = (message: string, details = 'authorization') => new CseError(403, message, details);

export interface CseErrorBody {
  code: number;
  message: string;
  details: string;
}

/** Anything a handler throws, as Google's error body. Internal errors never show their cause. */
export function renderError(e: unknown): { status: CseStatus; body: CseErrorBody } {
  if (e instanceof CseError) return { status: e.status, body: { code: e.status, message: e.message, details: e.details } };
  if (e instanceof KmsError) {
    const status = BY_KIND[e.kind];
    if (e.kind === 'internal') return { status, body: { code: status, message: 'internal error', details: 'internal' } };
    // A key the KACLS does not hold is a blob that is not ours: bad input, not a missing route.
    if (e.kind === 'not_found')
      return {
        status: 400,
        body: { code: 400, message: 'the wrapped key was not made by this KACLS', details: 'wrapped_key' },
      };
    return { status, body: { code: status, message: e.message, details: e.reason ?? REASON_BY_STATUS[status] } };
  }
  return { status: 500, body: { code: 500, message: 'internal error', details: 'internal' } };
}
