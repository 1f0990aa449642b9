import { randomUUID } from 'node:crypto';
import { KmsError, type ErrorKind } from '@polykms/core';

/**
 * OVH's ErrorResponse `{error_id, error_code, errors, request_id}`. `error_code` is packed as OVH packs
 * it (okms-sdk-go errors.go): bits 24-31 system, 16-23 component, 12-15 category, 0-11 code.
 */
export const SYSTEM = { CCM: 1, REST: 3 } as const;
export const COMPONENT = { General: 1, IAM: 2, Domain: 3, AuthProvider: 2, ServiceKeys: 3 } as const;
export const CATEGORY = {
  Internal: 1,
  Argument: 2,
  Authentication: 3,
  Authorization: 4,
  NotFound: 5,
  Unavailable: 7,
  BadArgument: 8,
  TooManyRequests: 9,
  Conflict: 10,
} as const;

export const packCode = (system: number, component: number, category: number, code: number) =>
  ((system << 24) | (component << 16) | (category << 12) | code) >>> 0;

export interface OvhErrorSpec {
  status: 400 | 401 | 403 | 404 | 409 | 413 | 429 | 500;
  code: number;
}

/**
 * Core's kinds in OVH's words. The OpenAPI document lists 400/401/404/429/500; 403 is what OVH returns
 * for IAM denials; API 2.16 answers 409 for a create whose caller-chosen `id` already exists.
 */
const BY_KIND: Record<ErrorKind, OvhErrorSpec> = {
  invalid_argument: { status: 400, code: packCode(SYSTEM.REST, COMPONENT.General, CATEGORY.Argument, 1) },
  failed_precondition: { status: 400, code: packCode(SYSTEM.REST, COMPONENT.ServiceKeys, CATEGORY.BadArgument, 2) },
  unsupported: { status: 400, code: packCode(SYSTEM.REST, COMPONENT.ServiceKeys, CATEGORY.BadArgument, 3) },
  conflict: { status: 409, code: packCode(SYSTEM.REST, COMPONENT.General, CATEGORY.Conflict, 1) },
  unauthenticated: { status: 401, code: packCode(SYSTEM.REST, COMPONENT.AuthProvider, CATEGORY.Authentication, 3) },
  permission_denied: { status: 403, code: packCode(SYSTEM.CCM, COMPONENT.IAM, CATEGORY.Authorization, 1) },
  not_found: { status: 404, code: packCode(SYSTEM.REST, COMPONENT.ServiceKeys, CATEGORY.NotFound, 1) },
  resource_exhausted: { status: 429, code: packCode(SYSTEM.REST, COMPONENT.General, CATEGORY.TooManyRequests, 1) },
  unavailable: { status: 500, code: packCode(SYSTEM.REST, COMPONENT.General, CATEGORY.Unavailable, 2) },
  internal: { status: 500, code: packCode(SYSTEM.REST, COMPONENT.General, CATEGORY.Internal, 1) },
};

/** A domain that is not this certificate's, or does not exist (CCM/Domain/NotFound, as OVH answers). */
export const DOMAIN_NOT_FOUND: OvhErrorSpec = {
  status: 404,
  code: packCode(SYSTEM.CCM, COMPONENT.Domain, CATEGORY.NotFound, 1),
};

export interface OvhErrorBody {
  error_id: string;
  error_code: number;
  errors: string[];
  request_id: string;
}

export function errorBody(spec: OvhErrorSpec, message: string, requestId: string): OvhErrorBody {
  return { error_id: randomUUID(), error_code: spec.code, errors: [message], request_id: requestId };
}

/** Anything thrown by a handler, as OVH would answer it. Internal errors never show their cause. */
export function renderError(e: unknown, requestId: string): { status: OvhErrorSpec['status']; body: OvhErrorBody } {
  if (e instanceof OvhError) return { status: e.spec.status, body: errorBody(e.spec, e.message, requestId) };
  const err = e instanceof KmsError ? e : new KmsError('internal', 'internal error');
  const spec = BY_KIND[err.kind];
  const message = err.kind === 'internal' ? 'internal error' : err.message;
  return { status: spec.status, body: errorBody(spec, message, requestId) };
}

/** An error that is OVH's own (domain not found, body too large) rather than a core kind. */
export class OvhError extends Error {
  constructor(
    readonly spec: OvhErrorSpec,
    message: string,
  ) {
    super(message);
  }
}
