/**
 * IAM tokens on the KMS host (huawei-kms.md §6.1; OTC-IAM "Obtaining a User Token Through Password
 * Authentication", "Verifying a Token"): POST /v3/auth/tokens (password identity, project scope)
 * -> 201 with X-Subject-Token; GET /v3/auth/tokens checks one; DELETE /v3/auth/tokens revokes one
 * (Keystone's "Revoke token"). IAM's own error shape here is Keystone's
 * `{"error":{"message","code","title"}}` (§5.5); a throttled login is the API gateway's 429 APIGW.0308.
 */
import type { Context, Hono } from 'hono';
import { z } from 'zod';
import { readText } from '@polykms/http';
import type { HuaweiDeps, HuaweiEnv } from '../app.ts';
import { APIGW, apigwBody } from '../errors.ts';
import { REVOKED_TOPIC, checkPassword, findUserById, findUserByName, type HuaweiUser, type ProjectRoles } from '../iam.ts';
import { tokenHolder } from '../identity.ts';
import { LoginBusy, sourceOf } from '../throttle.ts';
import { keystoneTime, type TokenClaims } from '../tokens.ts';
import { huaweiDb } from '../store.ts';

const TITLES: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found' };
const keystoneError = (code: number, message: string) => ({ error: { message, code, title: TITLES[code] ?? 'Error' } });

/** The API gateway's throttling answer (APIGW.0308, 429) with the reason and when to come back. */
const throttled = (c: Context<HuaweiEnv>, r: { retryAfterSeconds: number; message: string }) => {
  c.header('Retry-After', String(r.retryAfterSeconds));
  return c.json(
    apigwBody('APIGW.0308', `${APIGW['0308'][1]} ${r.message[0]!.toUpperCase()}${r.message.slice(1)}.`, c.get('requestId')),
    429,
  );
};

const ref = z.object({ id: z.string().min(1).max(64).optional(), name: z.string().min(1).max(255).optional() });
const PasswordAuth = z.object({
  auth: z.object({
    identity: z.object({
      methods: z.array(z.string()).min(1),
      password: z.object({
        user: z.object({
          id: z.string().max(64).optional(),
          name: z.string().max(255).optional(),
          password: z.string().min(1).max(1024),
          domain: ref.optional(),
        }),
      }),
    }),
    scope: z.object({ project: ref.extend({ domain: ref.optional() }).optional(), domain: ref.optional() }).optional(),
  }),
});

function tokenBody(user: HuaweiUser, project: ProjectRoles, claims: TokenClaims, host: string, catalog: boolean) {
  const domain = { id: user.domainId, name: user.domainName };
  return {
    token: {
      methods: claims.m,
      expires_at: keystoneTime(new Date(claims.exp * 1000)),
      issued_at: keystoneTime(new Date(claims.iat * 1000)),
      user: { domain, id: user.id, name: user.name, password_expires_at: '' },
      project: { id: project.id, name: project.name, domain },
      ...(catalog
        ? {
            catalog: [
              {
                type: 'identity',
                id: 'iam',
                name: 'iam',
                endpoints: [{ url: `https://${host}/v3`, region: '*', region_id: '*', interface: 'public', id: 'iam-public' }],
              },
              {
                type: 'kms',
                id: 'kms',
                name: 'kms',
                endpoints: [
                  {
                    url: `https://${host}/v1.0/${project.id}`,
                    region: project.name,
                    region_id: project.name,
                    interface: 'public',
                    id: 'kms-public',
                  },
                ],
              },
            ],
          }
        : {}),
      roles: project.roles.map((r) => ({ name: r, id: Buffer.from(r).toString('hex').slice(0, 32) })),
    },
  };
}

export function authRoutes(deps: HuaweiDeps, app: Hono<HuaweiEnv>) {
  const { kms, tokens } = deps;
  app.post('/v3/auth/tokens', async (c) => {
    let json: unknown;
    try {
      json = JSON.parse(await readText(c));
    } catch {
      return c.json(keystoneError(400, 'The request body is not valid JSON.'), 400);
    }
    const r = PasswordAuth.safeParse(json);
    if (!r.success) {
      const i = r.error.issues[0]!;
      return c.json(keystoneError(400, `'${i.path.join('.')}': ${i.message}`), 400);
    }
    const { identity, scope } = r.data.auth;
    if (!identity.methods.includes('password')) return c.json(keystoneError(400, "only the 'password' method is supported here"), 400);
    const u = identity.password.user;
    if (!u.id && !(u.name && u.domain && (u.domain.name || u.domain.id)))
      return c.json(keystoneError(400, "'auth.identity.password.user' needs an id, or a name and a domain"), 400);
    if (!scope?.project || (!scope.project.id && !scope.project.name))
      return c.json(keystoneError(400, "'auth.scope.project' (id or name) is required: KMS needs a project-scoped token"), 400);
    // Throttled before the user is looked up or any hash computed, by the name as asked for.
    const admission = deps.logins.admit(u.id ? `id:${u.id}` : `name:${u.domain?.name ?? `#${u.domain?.id}`}/${u.name}`, sourceOf(c));
    if (!admission.ok) return throttled(c, admission);
    let user: HuaweiUser | undefined;
    if (u.id) user = await findUserById(kms, u.id);
    else if (u.domain?.name) user = await findUserByName(kms, u.domain.name, u.name!);
    else {
      const row = await (await huaweiDb(kms))
        .selectFrom('huawei_users')
        .select('domain_name')
        .where('domain_id', '=', u.domain!.id!)
        .executeTakeFirst();
      user = row ? await findUserByName(kms, row.domain_name, u.name!) : undefined;
    }
    if (u.domain?.id && user && user.domainId !== u.domain.id) user = undefined;
    // An unknown user costs a hash like a wrong password, and gets the same answer.
    let good: boolean;
    try {
      good = await deps.logins.hash(() => checkPassword(identity.password.user.password, user?.passwordHash));
    } catch (e) {
      admission.notTried();
      if (e instanceof LoginBusy) return throttled(c, e);
      throw e;
    }
    if (!good || !user) return c.json(keystoneError(401, 'The username or password is wrong.'), 401);
    admission.succeeded();
    if (!user.enabled) return c.json(keystoneError(403, 'User disabled.'), 403);
    const project = user.projects.find((p) => (scope.project!.id ? p.id === scope.project!.id : p.name === scope.project!.name));
    if (!project) return c.json(keystoneError(401, `The user has no access to project ${scope.project.id ?? scope.project.name}.`), 401);
    await deps.cache.tenant(project.id);
    const { token, claims } = await tokens.issue({
      u: user.id,
      p: project.id,
      pn: project.name,
      d: user.domainId,
      m: ['password'],
      g: user.tokenEpoch,
    });
    await kms.audit.record({
      at: new Date(),
      tenantId: await deps.cache.tenant(project.id),
      dialect: 'huawei',
      principal: `user:${user.id}`,
      action: 'token.issue',
      keyId: null,
      outcome: 'allowed',
      requestId: c.get('requestId'),
    });
    c.header('X-Subject-Token', token);
    return c.json(tokenBody(user, project, claims, c.req.header('host') ?? 'localhost', c.req.query('nocatalog') !== 'true'), 201);
  });

  /** The caller (X-Auth-Token) and the token asked about (X-Subject-Token), each held by a live user. */
  const callerAndSubject = async (c: Context<HuaweiEnv>) => {
    const now = new Date();
    const callerToken = c.req.header('x-auth-token');
    const subject = c.req.header('x-subject-token');
    const caller = callerToken ? await tokenHolder(deps, callerToken, now) : undefined;
    if (!caller?.ok) return { refused: c.json(keystoneError(401, 'The request you have made requires authentication.'), 401) };
    const v = subject ? await tokenHolder(deps, subject, now) : undefined;
    const project = v?.ok ? v.user.projects.find((p) => p.id === v.claims.p) : undefined;
    if (!v?.ok || !project) return { refused: c.json(keystoneError(404, 'The token could not be found.'), 404) };
    return { caller, subject: { ...v, token: subject!, project } };
  };

  app.get('/v3/auth/tokens', async (c) => {
    const r = await callerAndSubject(c);
    if (r.refused) return r.refused;
    const { user, project, claims, token } = r.subject;
    c.header('X-Subject-Token', token);
    return c.json(tokenBody(user, project, claims, c.req.header('host') ?? 'localhost', c.req.query('nocatalog') !== 'true'));
  });

  // A user revokes its own tokens (Keystone's default policy: the token's subject, or an admin, and
  // the operator's admin API covers the latter). The id is kept until the token would have expired.
  app.delete('/v3/auth/tokens', async (c) => {
    const r = await callerAndSubject(c);
    if (r.refused) return r.refused;
    const { claims } = r.subject;
    if (claims.u !== r.caller.claims.u)
      return c.json(keystoneError(403, 'You are not authorized to perform the requested action: revoke token.'), 403);
    await (await huaweiDb(kms)).deleteFrom('huawei_revoked_tokens').where('expires_at', '<', new Date()).execute();
    await (await huaweiDb(kms))
      .insertInto('huawei_revoked_tokens')
      .values({ id: claims.n, expires_at: new Date(claims.exp * 1000) })
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
    await kms.publish(REVOKED_TOPIC, claims.n);
    kms.audit.record({
      at: new Date(),
      tenantId: await deps.cache.tenant(claims.p),
      dialect: 'huawei',
      principal: `user:${claims.u}`,
      action: 'token.revoke',
      keyId: null,
      outcome: 'allowed',
      requestId: c.get('requestId'),
    });
    return c.body(null, 204);
  });

  const version = (host: string) => ({
    id: 'v1.0',
    links: [{ href: `https://${host}/v1.0/`, rel: 'self' }],
    min_version: '',
    status: 'CURRENT',
    version: '',
    updated: '2018-09-05T08:18:05Z',
  });
  app.get('/', (c) => c.json({ versions: [version(c.req.header('host') ?? 'localhost')] }));
  app.get('/v1.0', (c) => c.json({ version: version(c.req.header('host') ?? 'localhost') }));
}
