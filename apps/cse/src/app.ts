import { randomUUID } from 'node:crypto';
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
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import type { Kms } from '@polykms/core';
import type { z } from 'zod';
import { Access } from './access.ts';
import type { CseConfig } from './config.ts';
import { CseError, badRequest, renderError } from './errors.ts';
import { CseInstance } from './instance.ts';
import { KeySets } from './keysets.ts';
import { describeIssues } from './schemas.ts';
import { TokenVerifier } from './tokens.ts';

export type CseEnv = { Variables: { requestId: string; audit: AuditScope } };
export type CseContext = Context<CseEnv>;

/** What one call leaves in the audit trail besides core's own key events. */
export interface AuditScope {
  principal: string;
  details: Record<string, unknown>;
  /**
   * Set once core has run the key operation: core's own event (key.encrypt / key.decrypt, allowed or
   * failed) then carries these details, so a call costs one audit row, not two.
   */
  inCore?: boolean;
}

export const MAX_BODY = 64 * 1024;

/** Everything a route module needs. */
export interface CseDeps {
  kms: Kms;
  config: CseConfig;
  instance: CseInstance;
  access: Access;
}

export type Register = (method: 'get' | 'post', name: string, h: (c: CseContext, deps: CseDeps) => Promise<Response>) => void;

const JSON_TYPES = /^(application\/json|text\/plain|application\/[a-z0-9.+-]+\+json)\s*(;.*)?$/i;

/** Step one of every handler: the body against its schema, as a 400 that names each bad field. */
export async function body<S extends z.ZodType>(c: CseContext, schema: S): Promise<z.infer<S>> {
  // text/plain too: a browser may send a "simple" CORS request; the body is JSON either way.
  const data = await readJson(c, schema, {
    types: JSON_TYPES,
    untypedOk: true,
    objectOnly: true,
    describe: describeIssues,
    refuse: (p) => {
      if (p.why === 'schema') noteReason(c, p.json);
      return p.why === 'content_type'
        ? new CseError(415, p.message)
        : badRequest(p.why === 'empty' ? 'the body is not valid JSON' : p.message, 'body');
    },
  });
  noteReason(c, data);
  return data;
}

/** The caller's `reason`, kept for the audit trail even when the rest of the body is refused. */
function noteReason(c: CseContext, json: unknown) {
  const reason = (json as { reason?: unknown } | null)?.reason;
  if (typeof reason === 'string') c.get('audit').details.reason = sanitizeReason(reason);
}

/**
 * `reason` is an opaque passthrough string (not strict JSON: Google sends `{client:'drive' op:'read'}`).
 * It is kept for the audit trail with control, bidi and line-separator characters replaced, cut to 1 KB.
 */
export function sanitizeReason(reason: string): string {
  const clean = reason.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g, '?');
  const bytes = Buffer.from(clean, 'utf8');
  return bytes.length <= 1024
    ? clean
    : bytes
        .subarray(0, 1024)
        .toString('utf8')
        .replace(/\ufffd$/, '');
}

/**
 * CORS for Workspace's browser client, with the headers hono's cors middleware sent, set before the
 * handler runs on Node's response: hono's appends `Vary` to the finished response, which turned every
 * answer from a cheap string response into a web Response with a stream body (profiled at ~8% of a wrap).
 */
function kaclsCors(origins: string[]): MiddlewareHandler {
  return async (c, next) => {
    const origin = requestHeader(c, 'origin');
    if (origin && origins.includes(origin)) responseHeader(c, 'Access-Control-Allow-Origin', origin);
    responseHeader(c, 'Access-Control-Expose-Headers', 'X-Request-Id');
    if (c.req.method !== 'OPTIONS') {
      responseHeader(c, 'Vary', 'Origin');
      return next();
    }
    c.header('Access-Control-Max-Age', '3600');
    c.header('Access-Control-Allow-Methods', 'GET,POST,OPTIONS');
    c.header('Access-Control-Allow-Headers', 'Content-Type,Authorization');
    responseHeader(c, 'Vary', 'Origin, Access-Control-Request-Headers');
    return c.body(null, 204);
  };
}

/**
 * The KACLS: every method at `<kaclsUrl path>/<method>` (and at `/<method>`, for a proxy that strips
 * the prefix), CORS for Workspace's browser client, one error renderer, one audit event per call.
 */
export function cseApp(
  kms: Kms,
  config: CseConfig,
  register: (route: Register) => void,
  obs: { log?: Logger | undefined; metrics?: Metrics | undefined } = {},
) {
  const instance = new CseInstance(kms, config);
  const tokens = new TokenVerifier(config, new KeySets(), () => instance.selfKeySet());
  const deps: CseDeps = { kms, config, instance, access: new Access(config, tokens) };
  const app = new Hono<CseEnv>();
  app.use('*', observe('cse', obs));
  handleErrors(app, 'cse', (e) => renderError(e), kms.log);
  app.notFound((c) =>
    c.json({ code: 404, message: `no KACLS method at ${c.req.method} ${c.req.path.slice(0, 200)}`, details: 'not_found' }, 404),
  );
  app.use('*', kaclsCors(config.corsOrigins));
  app.use('*', async (c, next) => {
    if (!c.get('requestId')) c.set('requestId', randomUUID());
    c.set('audit', { principal: 'anonymous', details: { method: c.req.path.split('/').pop()?.slice(0, 64) } });
    responseHeader(c, 'X-Request-Id', c.get('requestId'));
    await next();
  });
  // Workspace's browser client calls from its configured origins (CORS above); no other site's page may.
  app.use(
    '*',
    refuseCrossSite(
      (_c, reason) => {
        throw new CseError(403, reason, 'cross_site');
      },
      { allowOrigins: config.corsOrigins },
    ),
  );
  app.use(
    '*',
    limitBody(MAX_BODY, () => {
      throw new CseError(413, `the body is larger than ${MAX_BODY} bytes`);
    }),
  );

  // Unconfigured, the KACLS still answers at /v1, the path the gateway announces (`<url>/v1`).
  const prefix = config.enabled ? new URL(config.kaclsUrl).pathname.replace(/\/+$/, '') : '/v1';
  const prefixes = prefix ? ['', prefix] : [''];
  register((method, name, h) => {
    const run = async (c: CseContext) => {
      const scope = c.get('audit');
      try {
        const res = await h(c, deps);
        // Answered only once its event is stored (core's methods wait for theirs themselves).
        if (config.enabled && name !== 'status' && name !== 'certs' && !scope.inCore) await audit(deps, c, name, 'allowed');
        return res;
      } catch (e) {
        const { status } = renderError(e);
        // A token that does not authenticate: counted and audited within the per-source bound.
        if (status === 401) void refusedAuth(deps, c, name, e);
        else if (config.enabled && name !== 'status' && name !== 'certs') {
          // A refusal after core ran (resource name, perimeter, spki_hash) is still this method's denial.
          // If the store is down the refusal stays the answer (core logs the event it could not write).
          await audit(deps, c, name, status === 403 ? 'denied' : 'failed', status, e instanceof CseError ? e.details : undefined).catch(
            () => undefined,
          );
        }
        throw e;
      }
    };
    for (const p of prefixes) {
      app[method](`${p}/${name}`, run);
      app.all(`${p}/${name}`, (c) => {
        c.header('Allow', method === 'get' ? 'GET' : 'POST');
        return c.json({ code: 405, message: `${name} takes ${method.toUpperCase()}`, details: 'method_not_allowed' }, 405);
      });
    }
  });
  return { app, instance };
}

/** A token that did not authenticate: this method's denial, audited within core's per-source bound. */
async function refusedAuth(deps: CseDeps, c: CseContext, name: string, e: unknown) {
  const st = await deps.instance.state().catch(() => undefined);
  deps.kms.authFailures.refused({
    dialect: 'cse',
    source: clientAddress(c),
    reason: (e as Error).message,
    requestId: c.get('requestId'),
    tenantId: st?.tenantId,
    keyId: st?.kekId,
    action: `cse.${name}`,
    errorKind: `401${e instanceof CseError && e.details ? ` ${e.details}` : ''}`,
    details: c.get('audit').details,
  });
}

async function audit(
  deps: CseDeps,
  c: CseContext,
  name: string,
  outcome: 'allowed' | 'denied' | 'failed',
  status?: number,
  reason?: string,
) {
  const st = await deps.instance.state();
  const scope = c.get('audit');
  await deps.kms.audit.record({
    at: new Date(),
    tenantId: st.tenantId,
    dialect: 'cse',
    principal: scope.principal,
    action: `cse.${name}`,
    keyId: st.kekId,
    outcome,
    errorKind: status ? `${status}${reason ? ` ${reason}` : ''}` : undefined,
    requestId: c.get('requestId'),
    details: scope.details,
  });
}
