import { randomUUID } from 'node:crypto';
import type { HttpBindings } from '@hono/node-server';
import type { Logger } from 'pino';
import { clientAddress, limitBody, type Metrics, observe, readBody, responseHeader } from '@polykms/http';
import { Hono, type Context } from 'hono';
import { KmsError, type Action, type Caller, type KeyKind, type KeyOp, type KeyState, type Kms } from '@polykms/core';
import type { z } from 'zod';
import { APIGW, ApigwError, HuaweiError, apigwBody, needsKey, renderError, type ErrorContext } from './errors.ts';
import { roleAllows } from './iam.ts';
import { IamCache, authenticate, type HuaweiIdentity } from './identity.ts';
import { issueError } from './schemas.ts';
import { TokenService } from './tokens.ts';

export type HuaweiEnv = {
  Bindings: HttpBindings;
  Variables: { requestId: string; identity: HuaweiIdentity; rawBody: Buffer; keyId: string | undefined };
};
export type HuaweiContext = Context<HuaweiEnv>;
export type Handler = (c: HuaweiContext) => Promise<Response>;
/** Registers `POST /v1.0/{project_id}/kms/<verb>` (and the few GET/DELETE routes) for a route module. */
export type Route = (method: 'get' | 'post' | 'delete', path: string, h: Handler) => void;

/** A body far above the largest request (a 4096-byte plaintext, an 8192-character context). */
export const MAX_BODY = 32 * 1024;

export interface HuaweiDeps {
  kms: Kms;
  tokens: TokenService;
  cache: IamCache;
}

/** The caller core sees: the project's tenant, this user, and the user's roles in the project as the policy. */
export function caller(c: HuaweiContext): Caller {
  const id = c.get('identity');
  return {
    tenantId: id.tenantId,
    dialect: 'huawei',
    principal: `user:${id.user.id}${id.access ? `/ak:${id.access}` : ''}`,
    requestId: c.get('requestId'),
    authorize(action) {
      return roleAllows(id.roles, action);
    },
  };
}

/**
 * For handlers that read the key before the core call (to answer Huawei's state codes): the role is
 * checked first, so a caller without the right learns nothing about the key's state.
 */
export function requireAction(c: HuaweiContext, action: Action) {
  const id = c.get('identity');
  if (!roleAllows(id.roles, action)) throw new KmsError('permission_denied', `user ${id.user.name} may not ${action.replace('key.', '').replace(/_/g, ' ')} in project ${id.projectId}`, 'policy');
}

/** Step one of every handler: the body against its schema; the first problem as Huawei's code. */
export function body<S extends z.ZodType>(c: HuaweiContext, schema: S): z.infer<S> {
  const raw = c.get('rawBody');
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new HuaweiError('0202', raw.length ? 'The body is not valid JSON.' : 'The request needs a JSON body.');
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new HuaweiError('0202', 'The body must be a JSON object.');
  const r = schema.safeParse(json);
  if (!r.success) throw issueError(r.error, json);
  const keyId = (r.data as { key_id?: unknown }).key_id;
  if (typeof keyId === 'string') c.set('keyId', keyId.toLowerCase());
  return r.data;
}

/** The key a failed request named, for the finer error codes; nothing if it is not this tenant's. */
async function keyContext(kms: Kms, c: HuaweiContext): Promise<ErrorContext['key']> {
  const keyId = c.get('keyId');
  const id = c.get('identity');
  if (!keyId || !id) return undefined;
  const row = await kms.db.selectFrom('keys').select(['kind', 'ops', 'state']).where('tenant_id', '=', id.tenantId).where('id', '=', keyId).executeTakeFirst().catch(() => undefined);
  return row ? { kind: row.kind as KeyKind, ops: row.ops as KeyOp[], state: row.state as KeyState } : undefined;
}

/**
 * The KMS endpoint: `/v1.0/{project_id}/kms/...` behind authentication, IAM's `/v3/auth/tokens`, and
 * the version documents. Authentication runs before the body is parsed, so a stranger learns nothing
 * from validation errors; the body is read once, bounded, for both the AK/SK hash and the handler.
 */
export function huaweiApp(
  deps: HuaweiDeps,
  register: { kms: (route: Route) => void; open: (app: Hono<HuaweiEnv>) => void },
  obs: { log?: Logger | undefined; metrics?: Metrics | undefined } = {},
) {
  const { kms } = deps;
  const app = new Hono<HuaweiEnv>();
  app.use('*', observe('huawei', obs));
  app.onError(async (e, c) => {
    const requestId = c.get('requestId') ?? randomUUID();
    if (e instanceof KmsError && e.kind === 'unauthenticated') kms.authFailures.refused({ dialect: 'huawei', source: clientAddress(c), reason: e.message, requestId });
    const op = c.req.path.split('/').slice(4).join('/');
    const ctx: ErrorContext = { op, key: needsKey(e) ? await keyContext(kms, c) : undefined };
    const { status, body: b } = renderError(e, requestId, ctx);
    if (status >= 500) kms.log.error({ err: e, reqId: requestId }, 'huawei request failed');
    return c.json(b as object, status as 400);
  });
  app.notFound((c) => c.json(apigwBody('APIGW.0101', APIGW['0101'][1], c.get('requestId') ?? randomUUID()), 404));
  app.use('*', async (c, next) => {
    c.set('requestId', randomUUID().replace(/-/g, ''));
    responseHeader(c, 'X-Request-Id', c.get('requestId'));
    await next();
  });
  app.use('*', limitBody(MAX_BODY, (c) => c.json(apigwBody('APIGW.0201', APIGW['0201'][1], (c as HuaweiContext).get('requestId')), 413)));
  app.use('/v1.0/:project_id/kms/*', async (c, next) => {
    const raw = c.req.method === 'GET' || c.req.method === 'HEAD' ? Buffer.alloc(0) : await readBody(c);
    if (raw.length > MAX_BODY) throw new ApigwError('0201');
    c.set('rawBody', raw);
    c.set('identity', await authenticate(deps, c, c.req.param('project_id'), raw));
    await next();
  });
  register.open(app);
  register.kms((method, path, h) => {
    app[method](`/v1.0/:project_id/kms${path}`, h);
  });
  return app;
}
