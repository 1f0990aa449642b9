import { randomUUID } from 'node:crypto';
import type { HttpBindings } from '@hono/node-server';
import type { Logger } from 'pino';
import {
  clientAddress,
  handleErrors,
  limitBody,
  type Metrics,
  observe,
  parseJson,
  readBody,
  refuseCrossSite,
  responseHeader,
} from '@polykms/http';
import { Hono, type Context } from 'hono';
import { isUuid, KmsError, type Action, type Caller, type Kms } from '@polykms/core';
import type { z } from 'zod';
import { APIGW, ApigwError, HuaweiError, apigwBody, needsKey, renderError, type ErrorContext } from './errors.ts';
import { roleAllows } from './iam.ts';
import { type IamCache, authenticate, type HuaweiIdentity } from './identity.ts';
import { issueError } from './schemas.ts';
import type { LoginGuard } from './throttle.ts';
import type { TokenService } from './tokens.ts';

export type HuaweiEnv = {
  Bindings: HttpBindings;
  Variables: { requestId: string; identity: HuaweiIdentity; rawBody: Buffer };
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
  logins: LoginGuard;
}

/** The KMS verb of a request (`encrypt-data`, `aliases` ...): a grant's operations are these names. */
export const verbOf = (c: HuaweiContext) => c.req.path.split('/').slice(4).join('/');

/**
 * The caller core sees: the project's tenant, this user, and the user's roles in the project as the
 * policy. A use of a key the roles refuse is allowed by a live grant to the user or its account (domain)
 * that lists this request's verb (Huawei's grant operations are the verbs).
 */
export function caller(c: HuaweiContext): Caller {
  const id = c.get('identity');
  const verb = verbOf(c);
  return {
    tenantId: id.tenantId,
    dialect: 'huawei',
    principal: `user:${id.user.id}${id.access ? `/ak:${id.access}` : ''}`,
    requestId: c.get('requestId'),
    // Huawei uses only enabled keys, and enables or disables only a key in the other state.
    policy: { activeOnly: true, exactTransitions: true },
    authorize(action) {
      // A data key above core's data-key size is random bytes sealed under the key: the sealing is what
      // the role or a grant must allow; the bytes are dropped if it is refused.
      if (action === 'random' && (verb === 'create-datakey' || verb === 'create-datakey-without-plaintext')) return true;
      return roleAllows(id.roles, action);
    },
    grants: { principals: grantPrincipals(id), operation: verb },
  };
}

/** How a grant names a Huawei caller: its user id, or its account (domain) id (`grantee_principal_type`). */
export const grantPrincipals = (id: HuaweiIdentity) => [`user:${id.user.id}`, `domain:${id.user.domainId}`];

/**
 * A `key_id` where Huawei also takes an alias (describe-key and the operations that use a key): the id
 * of the key an alias, or a key's own alias, names; 404 KMS.0207 when none does.
 */
export const keyIdOf = async (kms: Kms, c: HuaweiContext, ref: string): Promise<string> =>
  isUuid(ref) ? ref : kms.resolveAlias(caller(c), ref);

/**
 * For handlers that read the key before the core call (to answer Huawei's state codes): the role is
 * checked first, so a caller without the right learns nothing about the key's state.
 */
export function requireAction(c: HuaweiContext, action: Action) {
  const id = c.get('identity');
  if (!roleAllows(id.roles, action))
    throw new KmsError(
      'permission_denied',
      `user ${id.user.name} may not ${action.replace('key.', '').replace(/_/g, ' ')} in project ${id.projectId}`,
      'policy',
    );
}

/** Step one of every handler: the body against its schema; the first problem as Huawei's code. */
export function body<S extends z.ZodType>(c: HuaweiContext, schema: S): z.infer<S> {
  return parseJson(c.get('rawBody').toString('utf8'), schema, {
    objectOnly: true,
    refuse: (p) =>
      p.why === 'schema'
        ? issueError(p.error, p.json)
        : new HuaweiError(
            '0202',
            p.why === 'empty'
              ? 'The request needs a JSON body.'
              : p.why === 'syntax'
                ? 'The body is not valid JSON.'
                : 'The body must be a JSON object.',
          ),
  });
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
  handleErrors(
    app,
    'huawei',
    (e, c) => {
      const requestId = c.get('requestId') ?? randomUUID();
      if (e instanceof KmsError && e.kind === 'unauthenticated')
        kms.authFailures.refused({ dialect: 'huawei', source: clientAddress(c), reason: e.message, requestId });
      const op = c.req.path.split('/').slice(4).join('/');
      const ctx: ErrorContext = { op, key: needsKey(e) ? ((e as KmsError).key as ErrorContext['key']) : undefined };
      return renderError(e, requestId, ctx);
    },
    kms.log,
  );
  app.notFound((c) => c.json(apigwBody('APIGW.0101', APIGW['0101'][1], c.get('requestId') ?? randomUUID()), 404));
  app.use('*', async (c, next) => {
    c.set('requestId', randomUUID().replace(/-/g, ''));
    responseHeader(c, 'X-Request-Id', c.get('requestId'));
    await next();
  });
  // Huawei's credentials are headers a browser does not add by itself, so this is defence in depth:
  // no other site's page has business here, password logins included.
  app.use(
    '*',
    refuseCrossSite((_c, reason) => {
      throw new ApigwError('0302', reason);
    }),
  );
  app.use(
    '*',
    limitBody(MAX_BODY, (c) => c.json(apigwBody('APIGW.0201', APIGW['0201'][1], (c as HuaweiContext).get('requestId')), 413)),
  );
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
