import { randomUUID } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { HttpBindings } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import type { Logger } from 'pino';
import {
  clientAddress,
  handleErrors,
  limitBody,
  type Metrics,
  observe,
  readJson,
  refuseCrossSite,
  requestHeader,
  responseHeader,
} from '@polykms/http';
import { KmsError, invalid, isUuid, type Action, type Caller, type Kms } from '@polykms/core';
import type { z } from 'zod';
import { DOMAIN_NOT_FOUND, OvhError, errorBody, renderError } from './errors.ts';
import { OVH_ACTIONS, allowed, domainUrn, keyUrn } from './iam.ts';
import { IdentityCache, Unauthenticated, identify, type OvhIdentity } from './identity.ts';
import { swaggerApp } from './swagger.ts';

export type OvhEnv = { Bindings: HttpBindings; Variables: { requestId: string; identity: OvhIdentity } };
export type OvhContext = Context<OvhEnv>;

export const MAX_BODY = 64 * 1024;

/** The caller core sees: the domain's tenant, this credential, and OVH IAM as the policy hook. */
export function caller(c: OvhContext, override?: Partial<Record<Action, string>>, details?: Record<string, unknown>): Caller {
  const id = c.get('identity');
  return {
    tenantId: id.tenantId,
    dialect: 'ovh',
    principal: id.principal,
    requestId: c.get('requestId'),
    details,
    // A method, not an arrow: the TypeScript loader names every arrow assigned to a property at run time.
    authorize(action, key) {
      return allowed(
        id.policies,
        id.identities,
        override?.[action] ?? OVH_ACTIONS[action],
        key ? keyUrn(id.okmsId, key.id) : domainUrn(id.okmsId),
      );
    },
  };
}

const JSON_TYPES = /^(application\/json|text\/json|application\/[a-z0-9.+-]+\+json)\s*(;.*)?$/i;

/** Step one of every handler: the body against its schema, with OVH's 400 and a message per field. */
export const body = <S extends z.ZodType>(c: OvhContext, schema: S): Promise<z.infer<S>> =>
  readJson(c, schema, {
    types: JSON_TYPES,
    refuse: (p) => invalid(p.why === 'empty' ? 'the body is not valid JSON' : p.message),
  });

/**
 * The data plane: every route at `/api/{okmsId}/...` and at the legacy `/...`, where the domain is the
 * client certificate's. Authentication runs first, so a stranger learns nothing from validation errors.
 */
export function ovhApp(
  kms: Kms,
  register: (route: (method: 'get' | 'post' | 'patch' | 'delete', path: string, h: (c: OvhContext) => Promise<Response>) => void) => void,
  obs: { log?: Logger | undefined; metrics?: Metrics | undefined } = {},
) {
  const app = new Hono<OvhEnv>();
  app.use('*', observe('ovh', obs));
  const identities = new IdentityCache(kms);
  handleErrors(app, 'ovh', (e, c) => renderError(e, c.get('requestId') ?? randomUUID()), kms.log);
  app.notFound((c) =>
    c.json(
      errorBody(
        { status: 404, code: DOMAIN_NOT_FOUND.code },
        `no route for ${c.req.method} ${c.req.path}`,
        c.get('requestId') ?? randomUUID(),
      ),
      404,
    ),
  );
  // A browser holding a credential must not be steered by another site's page (form posts included).
  app.use(
    '*',
    refuseCrossSite((_c, reason) => {
      throw new KmsError('permission_denied', reason);
    }),
  );
  app.route('/', swaggerApp() as never);
  app.use('*', async (c, next) => {
    if (c.req.path === '/swagger' || c.req.path.startsWith('/swagger/')) return next();
    responseHeader(c, 'X-Request-Id', c.get('requestId'));
    const socket = c.env?.incoming?.socket as TLSSocket | undefined;
    try {
      c.set('identity', await identify(kms, socket, requestHeader(c, 'authorization'), identities));
    } catch (e) {
      // Refused certificates and tokens are counted, logged and audited alike.
      if (e instanceof KmsError && e.kind === 'unauthenticated') {
        kms.authFailures.refused({
          dialect: 'ovh',
          source: clientAddress(c),
          reason: e.message,
          principal: e instanceof Unauthenticated ? e.principal : undefined,
          tenantId: e instanceof Unauthenticated ? e.tenantId : undefined,
          requestId: c.get('requestId'),
        });
      }
      throw e;
    }
    await next();
  });
  app.use(
    '*',
    limitBody(MAX_BODY, () => {
      throw invalid(`the body is larger than ${MAX_BODY} bytes`);
    }),
  );
  const domainCheck = (c: OvhContext) => {
    const okmsId = c.req.param('okmsId' as never) as string | undefined;
    if (okmsId !== undefined && (!isUuid(okmsId) || okmsId.toLowerCase() !== c.get('identity').okmsId.toLowerCase()))
      throw new OvhError(DOMAIN_NOT_FOUND, `domain ${okmsId} not found`);
  };
  register((method, path, h) => {
    const wrapped = async (c: OvhContext) => {
      domainCheck(c);
      return h(c);
    };
    app[method](`/api/:okmsId${path}`, wrapped);
    app[method](path, wrapped);
  });
  return app;
}
