import { HTTPException } from 'hono/http-exception';
import { toKmsError } from '@polykms/core';
import { STATUS_OF_KIND, type Rendered } from '@polykms/http';
import type { z } from 'zod';

/** The admin API's one error body, `{message}`: a 4xx for what a caller can fix, "internal error" for a 500. */
export function renderAdminError(e: unknown): Rendered {
  // hono's own errors (a body over the limit, a malformed request) carry their status.
  if (e instanceof HTTPException && e.status < 500) return { status: e.status, body: { message: e.message || 'bad request' } };
  const err = toKmsError(e);
  return { status: STATUS_OF_KIND[err.kind], body: { message: err.message } };
}

/** "field: problem; field: problem", short enough to show in a form. */
export function describe(error: z.ZodError): string[] {
  return error.issues.map((i) => {
    const where = i.path.length ? i.path.join('.') : 'body';
    if (i.code === 'unrecognized_keys') return `unknown field(s) ${i.keys.map((k) => [...i.path, k].join('.')).join(', ')}`;
    return `${where}: ${i.message}`;
  });
}
