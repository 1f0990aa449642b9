import type { Context } from 'hono';
import { KmsError, type Kms } from '@polykms/core';
import { HuaweiError } from './errors.ts';
import { IAM_TOPIC, findAccessKey, findUserById, type HuaweiUser } from './iam.ts';
import { canonicalQuery, canonicalRequest, canonicalUris, parseAuthorization, parseSdkDate, payloadHash, signString, signatureMatches, stringToSign } from './signer.ts';
import type { TokenService } from './tokens.ts';
import { requestHeader } from '@polykms/http';

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
 * Users and access keys by id, for a few seconds: every admin change publishes IAM_TOPIC (here at
 * once, elsewhere through NOTIFY), which empties the cache; the TTL bounds a lost notification.
 */
export class IamCache {
  private readonly users = new Map<string, { v: HuaweiUser | undefined; until: number }>();
  private readonly keys = new Map<string, { v: Awaited<ReturnType<typeof findAccessKey>>; until: number }>();
  private readonly tenants = new Map<string, { v: string; until: number }>();
  constructor(private readonly kms: Kms) {
    kms.subscribe(IAM_TOPIC, () => this.clear());
  }
  clear() {
    this.users.clear();
    this.keys.clear();
  }
  async user(id: string) {
    const hit = this.users.get(id);
    if (hit && hit.until > Date.now()) return hit.v;
    const v = await findUserById(this.kms, id);
    if (this.users.size > 10_000) this.users.clear();
    this.users.set(id, { v, until: Date.now() + TTL_MS });
    return v;
  }
  /** The tenant of a project; a project seen for the first time becomes a tenant. */
  async tenant(projectId: string) {
    const hit = this.tenants.get(projectId);
    if (hit && hit.until > Date.now()) return hit.v;
    const v = (await this.kms.tenants.resolve('huawei', projectId, { create: true }))!;
    if (this.tenants.size > 10_000) this.tenants.clear();
    this.tenants.set(projectId, { v, until: Date.now() + TTL_MS });
    return v;
  }
  async accessKey(access: string) {
    const hit = this.keys.get(access);
    if (hit && hit.until > Date.now()) return hit.v;
    const v = await findAccessKey(this.kms, access);
    if (this.keys.size > 10_000) this.keys.clear();
    this.keys.set(access, { v, until: Date.now() + TTL_MS });
    return v;
  }
}

export interface AuthDeps {
  kms: Kms;
  cache: IamCache;
  tokens: TokenService;
  now?: () => Date;
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
    const v = await deps.tokens.verify(token, now);
    if (!v.ok) throw unauth(v.why);
    const user = await deps.cache.user(v.claims.u);
    if (!user || !user.enabled) throw unauth('the user of this token does not exist or is disabled');
    const project = user.projects.find((p) => p.id === v.claims.p);
    if (!project) throw unauth('the token project is no longer assigned to the user');
    if (project.id !== pathProject) throw new HuaweiError('0321', `The token is scoped to project ${project.id}.`);
    return identityOf(deps.cache, user, project.id, project.roles, 'token');
  }
  if (authorization !== undefined) {
    const auth = parseAuthorization(authorization);
    if (!auth) throw unauth('unsupported authorization scheme (expected SDK-HMAC-SHA256 Access=..., SignedHeaders=..., Signature=...)');
    const sdkDate = requestHeader(c, 'x-sdk-date');
    const date = sdkDate ? parseSdkDate(sdkDate) : undefined;
    if (!sdkDate || !date) throw unauth('x-sdk-date not found or not in the form YYYYMMDDTHHMMSSZ');
    if (!auth.signedHeaders.includes('x-sdk-date')) throw unauth('x-sdk-date must be a signed header');
    if (Math.abs(now.getTime() - date.getTime()) > MAX_SKEW_MS) throw unauth(`x-sdk-date ${sdkDate} is more than 15 minutes away from the server time`);
    const found = await deps.cache.accessKey(auth.access);
    if (!found) throw unauth(`Get secretKey failed,ak:${mask(auth.access)},err:ak not exist`);
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
      const cr = canonicalRequest({ method: wireMethod, canonicalUri: uri, canonicalQuery: query, signedHeaders: auth.signedHeaders, header: (n) => requestHeader(c, n), payloadHash: hash });
      first ||= cr;
      // Every candidate is computed and compared, so timing does not tell which form was tried.
      ok = signatureMatches(signString(found.secret, stringToSign(sdkDate, cr)), auth.signature) || ok;
    }
    if (!ok) throw unauth(`verify aksk signature fail, canonicalRequest:${first.replace(/\n/g, '|')}`);
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

const mask = (ak: string) => (ak.length > 6 ? `${ak.slice(0, 3)}******${ak.slice(-3)}` : '******');

async function identityOf(cache: IamCache, user: HuaweiUser, projectId: string, roles: string[], via: 'token' | 'aksk', access?: string): Promise<HuaweiIdentity> {
  const tenantId = await cache.tenant(projectId);
  return { user, projectId, tenantId, roles, via, access };
}
