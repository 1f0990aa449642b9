import { randomBytes } from 'node:crypto';
import type { Context } from 'hono';
import { KmsError, LoadingCache, type Kms } from '@polykms/core';
import { HuaweiError } from './errors.ts';
import { IAM_TOPIC, REVOKED_TOPIC, findAccessKey, findUserById, type HuaweiUser } from './iam.ts';
import {
  canonicalQuery,
  canonicalRequest,
  canonicalUris,
  parseAuthorization,
  parseSdkDate,
  scopedSigningKey,
  payloadHash,
  signString,
  signatureMatches,
  stringToSign,
} from './signer.ts';
import type { TokenClaims, TokenService } from './tokens.ts';
import { requestHeader } from '@polykms/http';
import { huaweiDb } from './store.ts';

export interface HuaweiIdentity {
  user: HuaweiUser;
  projectId: string;
  tenantId: string;
  roles: string[];
  via: 'token' | 'aksk';
  access?: string | undefined;
}

/** X-Sdk-Date must be within 15 minutes of the server clock (APIG FAQ). */
export const MAX_SKEW_MS = 15 * 60_000;
const TTL_MS = 10_000;

const unauth = (why: string) => new KmsError('unauthenticated', why, 'iam');

/**
 * Users and access keys by id, for a few seconds, each loaded once however many requests miss it
 * together: every admin change publishes IAM_TOPIC (here at once, elsewhere through NOTIFY), which
 * empties the cache; the TTL bounds a lost notification. A read that was under way when a change came
 * in is not cached, so it cannot put the old row back for a whole TTL.
 */
export class IamCache {
  private readonly users = new LoadingCache<HuaweiUser | undefined>(TTL_MS);
  private readonly keys = new LoadingCache<Awaited<ReturnType<typeof findAccessKey>>>(TTL_MS);
  private readonly tenants = new LoadingCache<string>(TTL_MS);
  private readonly revocations = new LoadingCache<boolean>(TTL_MS);
  constructor(private readonly kms: Kms) {
    kms.subscribe(IAM_TOPIC, () => this.clear());
    kms.subscribe(REVOKED_TOPIC, (id) => this.revocations.put(id, true));
  }
  clear() {
    this.users.clear();
    this.keys.clear();
  }
  user(id: string) {
    return this.users.get(id, () => findUserById(this.kms, id));
  }
  /** Whether a token id was revoked (DELETE /v3/auth/tokens), on this process or another. */
  revoked(tokenId: string) {
    return this.revocations.get(tokenId, async () => {
      const row = await (await huaweiDb(this.kms))
        .selectFrom('huawei_revoked_tokens')
        .select('id')
        .where('id', '=', tokenId)
        .executeTakeFirst();
      return row !== undefined;
    });
  }
  /** The tenant of a project; a project seen for the first time becomes a tenant. */
  tenant(projectId: string) {
    return this.tenants.get(projectId, async () => (await this.kms.tenants.resolve('huawei', projectId, { create: true }))!);
  }
  accessKey(access: string) {
    return this.keys.get(access, () => findAccessKey(this.kms, access));
  }
}

export interface AuthDeps {
  kms: Kms;
  cache: IamCache;
  tokens: TokenService;
  now?: () => Date;
}

/**
 * The user behind a token, if the token is genuine, unexpired, not revoked, and its user still exists,
 * is enabled and has not changed password (or been disabled) since it was issued; otherwise why not.
 */
export async function tokenHolder(
  deps: Pick<AuthDeps, 'tokens' | 'cache'>,
  token: string,
  now: Date,
): Promise<{ ok: true; claims: Readonly<TokenClaims>; user: HuaweiUser } | { ok: false; why: string }> {
  const v = await deps.tokens.verify(token, now);
  if (!v.ok) return v;
  const user = await deps.cache.user(v.claims.u);
  if (!user || !user.enabled) return { ok: false, why: 'the user of this token does not exist or is disabled' };
  if (user.tokenEpoch !== v.claims.g || (await deps.cache.revoked(v.claims.n))) return { ok: false, why: 'the token has been revoked' };
  return { ok: true, claims: v.claims, user };
}

/**
 * Who is calling, and as which project: an X-Auth-Token from /v3/auth/tokens, or an AK/SK signature.
 * Bad credentials are the gateway's 401 (APIGW.0301); good credentials for another project are KMS's 403.
 */
export async function authenticate(deps: AuthDeps, c: Context, pathProject: string, rawBody: Buffer): Promise<HuaweiIdentity> {
  const now = deps.now?.() ?? new Date();
  const token = requestHeader(c, 'x-auth-token');
  const authorization = requestHeader(c, 'authorization');
  if (token !== undefined) {
    const v = await tokenHolder(deps, token, now);
    if (!v.ok) throw unauth(v.why);
    const user = v.user;
    const project = user.projects.find((p) => p.id === v.claims.p);
    if (!project) throw unauth('the token project is no longer assigned to the user');
    if (project.id !== pathProject) throw new HuaweiError('0321', `The token is scoped to project ${project.id}.`);
    return identityOf(deps.cache, user, project.id, project.roles, 'token');
  }
  if (authorization !== undefined) {
    const auth = parseAuthorization(authorization);
    if (!auth)
      throw unauth(
        'unsupported authorization scheme (expected SDK-HMAC-SHA256 Access=... or Credential=<AK>/<yyyymmdd>/<region>/<service>/sdk_request, SignedHeaders=..., Signature=...)',
      );
    const sdkDate = requestHeader(c, 'x-sdk-date');
    const date = sdkDate ? parseSdkDate(sdkDate) : undefined;
    if (!sdkDate || !date) throw unauth('x-sdk-date not found or not in the form YYYYMMDDTHHMMSSZ');
    if (!auth.signedHeaders.includes('x-sdk-date')) throw unauth('x-sdk-date must be a signed header');
    if (Math.abs(now.getTime() - date.getTime()) > MAX_SKEW_MS)
      throw unauth(`x-sdk-date ${sdkDate} is more than 15 minutes away from the server time`);
    if (auth.scope && auth.scope.date !== sdkDate.slice(0, 8))
      throw unauth(`the credential scope's date ${auth.scope.date} is not the day of x-sdk-date ${sdkDate}`);
    // An unknown AK is checked against a stand-in secret and refused in the words of a bad signature,
    // so neither the answer nor its timing tells which AKs exist.
    const found = await deps.cache.accessKey(auth.access);
    const url = new URL(c.req.url);
    const rawTarget = (c.env as { incoming?: { url?: string } } | undefined)?.incoming?.url ?? `${url.pathname}${url.search}`;
    const q = rawTarget.indexOf('?');
    const rawPath = q < 0 ? rawTarget : rawTarget.slice(0, q);
    const query = canonicalQuery(q < 0 ? '' : rawTarget.slice(q + 1));
    const hash = payloadHash(rawBody, requestHeader(c, 'x-sdk-content-sha256'));
    // The method as sent: the listener answers HEAD through the GET route (packages/http), and a
    // signature made for GET must not pass for HEAD, nor the other way round.
    const wireMethod = (c.env as { incoming?: { method?: string } } | undefined)?.incoming?.method ?? c.req.method;
    let first = '';
    let ok = false;
    for (const uri of canonicalUris(rawPath)) {
      const cr = canonicalRequest({
        method: wireMethod,
        canonicalUri: uri,
        canonicalQuery: query,
        signedHeaders: auth.signedHeaders,
        // gophertelekomcloud collapses each run of whitespace in a header value before signing it.
        header: auth.scope ? (n) => requestHeader(c, n)?.replace(/\s+/g, ' ') : (n) => requestHeader(c, n),
        payloadHash: hash,
      });
      first ||= cr;
      // Every candidate is computed and compared, so timing does not tell which form was tried.
      const secret = found?.secret ?? UNKNOWN_AK_SECRET;
      const key = auth.scope ? scopedSigningKey(secret, auth.scope) : secret;
      ok = signatureMatches(signString(key, stringToSign(sdkDate, cr, auth.scope?.text)), auth.signature) || ok;
    }
    if (!ok || !found) throw unauth(`verify aksk signature fail, canonicalRequest:${first.replace(/\n/g, '|')}`);
    const user = found.user;
    if (!user.enabled) throw unauth('the user of this access key is disabled');
    const headerProject = requestHeader(c, 'x-project-id');
    if (headerProject !== undefined && headerProject !== pathProject) throw new HuaweiError('0321', `X-Project-Id is ${headerProject}.`);
    const project = user.projects.find((p) => p.id === pathProject);
    if (!project) throw new HuaweiError('0306', `The user has no role in project ${pathProject}.`);
    return identityOf(deps.cache, user, project.id, project.roles, 'aksk', auth.access);
  }
  throw unauth('x-auth-token not found');
}

const UNKNOWN_AK_SECRET = randomBytes(40);

async function identityOf(
  cache: IamCache,
  user: HuaweiUser,
  projectId: string,
  roles: string[],
  via: 'token' | 'aksk',
  access?: string,
): Promise<HuaweiIdentity> {
  const tenantId = await cache.tenant(projectId);
  return { user, projectId, tenantId, roles, via, access };
}
