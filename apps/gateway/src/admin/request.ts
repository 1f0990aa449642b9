import { randomUUID } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { invalid, NAME_MAX, notFound, type Caller, type KeyRecord, type Kms } from '@polykms/core';
import { parseJson, readJson } from '@polykms/http';
import type { z } from 'zod';
import { describe } from './errors.ts';

export type AdminEnv = { Variables: { tenant: { id: string; name: string; created_at?: Date }; requestId: string } };
export type AdminContext = Context<AdminEnv>;

/** A query string or a parsed value against its schema: a 400 naming each bad field. */
export function parse<S extends z.ZodType>(schema: S, data: unknown): z.infer<S> {
  const r = schema.safeParse(data);
  if (!r.success) throw invalid(describe(r.error).join('; '));
  return r.data;
}

/** The body against its schema; with `optional`, no body reads as `{}`. */
export const body = <S extends z.ZodType>(c: Context, schema: S, optional = false): Promise<z.infer<S>> =>
  readJson(c, schema, {
    objectOnly: true,
    describe,
    ...(optional ? { empty: {} } : {}),
    refuse: (p) => invalid(p.why === 'empty' ? 'the body is not valid JSON' : p.message),
  });

/** A body already read (the links route takes it before the tenant is resolved). */
export const parseBody = <S extends z.ZodType>(text: string, schema: S) =>
  parseJson(text, schema, { objectOnly: true, describe, refuse: (p) => invalid(p.message) });

/** Core sees the console as a caller of its own, so its key operations obey the same rules and are audited. */
export const caller = (c: AdminContext): Caller => ({
  tenantId: c.get('tenant').id,
  dialect: 'admin',
  principal: 'admin-console',
  requestId: c.get('requestId'),
});

/** A request id for every admin answer (the caller's own, if it is a sane one). */
export const requestIds: MiddlewareHandler<AdminEnv> = async (c, next) => {
  const given = c.req.header('x-request-id');
  c.set('requestId', given && /^[A-Za-z0-9._:-]{1,128}$/.test(given) ? given : randomUUID());
  c.header('X-Request-Id', c.get('requestId'));
  await next();
};

/** A tenant by id or name; unknown is 404. */
export async function findTenant(kms: Kms, idOrName: string) {
  if (idOrName.length > NAME_MAX) throw notFound('tenant');
  const t = await kms.tenants.get(idOrName);
  if (!t) throw notFound('tenant');
  return t;
}

/** Every admin answer is private and live: never stored by a browser or a proxy. */
export const noStore: MiddlewareHandler = async (c, next) => {
  await next();
  c.header('Cache-Control', 'no-store');
  c.header('Pragma', 'no-cache');
  c.header('X-Content-Type-Options', 'nosniff');
};

export const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

/** A key as the console shows it; never material. */
export function renderKey(k: KeyRecord) {
  return {
    id: k.id,
    tenantId: k.tenantId,
    name: k.name,
    description: k.description,
    alias: k.alias,
    type: k.kind,
    size: k.size,
    curve: k.curve,
    operations: k.ops,
    origin: k.origin,
    state: k.state,
    currentVersion: k.currentVersion,
    createdAt: iso(k.createdAt),
    updatedAt: iso(k.updatedAt),
    activatedAt: iso(k.activatedAt),
    deactivatedAt: iso(k.deactivatedAt),
    deactivationReason: k.deactivationReason,
    compromisedAt: iso(k.compromisedAt),
    deletionDueAt: iso(k.deletionDueAt),
    destroyedAt: iso(k.destroyedAt),
  };
}
