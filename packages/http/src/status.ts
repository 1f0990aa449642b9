import type { ErrorKind } from '@polykms/core';

/**
 * Core's error kinds as plain HTTP statuses, for the APIs that are not a vendor's (the admin port and
 * the control planes served there): one table, so the same refusal is the same status on every route.
 */
export const STATUS_OF_KIND: Record<ErrorKind, 400 | 401 | 403 | 404 | 409 | 429 | 500 | 503> = {
  not_found: 404,
  invalid_argument: 400,
  failed_precondition: 409,
  unsupported: 400,
  unauthenticated: 401,
  permission_denied: 403,
  conflict: 409,
  resource_exhausted: 429,
  unavailable: 503,
  internal: 500,
};
