import type { TLSSocket } from 'node:tls';
import { BINDINGS_TOPIC, KmsError, LoadingCache, type Kms } from '@polykms/core';
import { parseClientCertificate } from '@polykms/pki';
import { parsePolicy, type IamPolicy } from './iam.ts';
import { ACCESS_TOPIC, ovhDb } from './store.ts';
import { TOKEN_PREFIX, tokenDigest } from './tokens.ts';

export { ACCESS_TOPIC };

export interface OvhIdentity {
  okmsId: string;
  tenantId: string;
  /** The access certificate's or the token's id. */
  credentialId: string;
  /** Who the audit trail names: `credential:<id>` (a certificate) or `token:<id>`. */
  principal: string;
  identities: string[];
  policies: IamPolicy[];
  expiresAt: number;
}

/** A refused caller, with whom it claimed to be when that is known (for the audit trail). */
export class Unauthenticated extends KmsError {
  constructor(
    message: string,
    readonly principal?: string | undefined,
    readonly tenantId?: string | undefined,
  ) {
    super('unauthenticated', message, 'credential');
  }
}

const TTL_MS = 30_000;

/**
 * Identities by certificate fingerprint or token digest, so a warm request costs no lookup, and the
 * requests that miss one together share one lookup. Revocations and policy changes publish
 * ACCESS_TOPIC (this process at once, others through NOTIFY), which empties the cache; the TTL bounds
 * staleness should a notification be lost with a dropped connection.
 */
export class IdentityCache {
  private readonly ids = new LoadingCache<OvhIdentity>(TTL_MS);
  constructor(kms: Kms) {
    kms.subscribe(ACCESS_TOPIC, () => this.ids.clear());
    kms.subscribe(BINDINGS_TOPIC, () => this.ids.clear());
  }
  /** Never past the credential's own expiry. */
  get(key: string, load: () => Promise<OvhIdentity>): Promise<OvhIdentity> {
    return this.ids.get(key, load, (id) => id.expiresAt);
  }
}

/**
 * The peer certificate of a connection, read once: it cannot change while the connection lives, since
 * the listener refuses renegotiation (@polykms/http), and reading it costs ~50 us per request.
 */
const peers = new WeakMap<TLSSocket, { raw: Buffer; fp: string } | null>();
function peerOf(socket: TLSSocket) {
  let p = peers.get(socket);
  if (p === undefined) {
    const c = socket.getPeerCertificate?.();
    p = c?.raw ? { raw: c.raw, fp: c.fingerprint256.replace(/:/g, '').toLowerCase() } : null;
    peers.set(socket, p);
  }
  return p;
}

/** RFC 6750's b64token; a polykms token is far shorter than the bound. */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;
const MAX_AUTHORIZATION = 512;

/**
 * Who is calling: exactly one of a client certificate and an `Authorization: Bearer` token. Both at
 * once are refused rather than one silently preferred, so a request never runs under an identity its
 * sender did not mean. A certificate must be issued by the gateway's CA (the TLS layer checked the
 * chain and the dates) and known as an access credential of an OVH domain, not revoked or expired;
 * the domain is its `okms.domain:<okmsId>` UPN, the identities come from the store.
 */
export async function identify(
  kms: Kms,
  socket: TLSSocket | undefined,
  authorization: string | undefined,
  cache?: IdentityCache,
): Promise<OvhIdentity> {
  const peer = socket ? peerOf(socket) : null;
  if (authorization !== undefined) {
    if (peer)
      throw new Unauthenticated('present a client certificate or an Authorization: Bearer token, not both', `certificate:${peer.fp}`);
    return byToken(kms, authorization, cache);
  }
  if (!socket || !peer) throw new Unauthenticated('a client certificate (mTLS) or an Authorization: Bearer token is required');
  const principal = `certificate:${peer.fp}`;
  const unauth = (msg: string) => new Unauthenticated(msg, principal);
  if (!socket.authorized) {
    const why = String(socket.authorizationError ?? 'not trusted');
    throw unauth(why === 'CERT_HAS_EXPIRED' ? 'the client certificate has expired' : `the client certificate is not trusted (${why})`);
  }
  const lookup = () => byCertificate(kms, peer.raw, unauth);
  return cache ? cache.get(peer.fp, lookup) : lookup();
}

/** The access credential a trusted certificate is, with its domain's policies. */
async function byCertificate(kms: Kms, raw: Buffer, unauth: (msg: string) => Unauthenticated): Promise<OvhIdentity> {
  const cert = parseClientCertificate(raw);
  const upn = cert.upns.find((u) => u.startsWith('okms.domain:'));
  if (!upn) throw unauth('the client certificate names no OKMS domain (SAN UPN okms.domain:<id>)');
  const okmsId = upn.slice('okms.domain:'.length);
  const domain = await kms.tenants.binding('ovh', okmsId);
  const cred =
    domain &&
    (await (
      await ovhDb(kms)
    )
      .selectFrom('credentials')
      .select(['id', 'tenant_id', 'identities', 'revoked_at', 'expires_at'])
      .where('tenant_id', '=', domain.tenant_id)
      .where('fingerprint', '=', cert.fingerprintSha256)
      .where('dialect', '=', 'ovh')
      .executeTakeFirst());
  if (!cred) throw unauth('the client certificate is not an access credential of this domain');
  if (cred.revoked_at) throw unauth('the client certificate has been revoked');
  if (cred.expires_at.getTime() < Date.now()) throw unauth('the client certificate has expired');
  return withPolicies(kms, {
    okmsId,
    tenantId: cred.tenant_id,
    credentialId: cred.id,
    principal: `credential:${cred.id}`,
    identities: cred.identities,
    expiresAt: cred.expires_at.getTime(),
  });
}

/**
 * A bearer token: found by its digest, not revoked or expired, and its domain still bound to the
 * tenant it was issued in (as a certificate's credential must be). The domain is the token's own;
 * a URL naming another domain is refused by the caller, as for a certificate.
 */
async function byToken(kms: Kms, authorization: string, cache?: IdentityCache): Promise<OvhIdentity> {
  const m = authorization.length <= MAX_AUTHORIZATION ? BEARER.exec(authorization) : null;
  if (!m) throw new Unauthenticated("the Authorization header must be 'Bearer <token>'");
  const token = m[1]!;
  if (!token.startsWith(TOKEN_PREFIX)) throw new Unauthenticated('the bearer token is not valid');
  const digest = tokenDigest(token);
  const lookup = () => tokenIdentity(kms, digest);
  return cache ? cache.get(`token:${digest}`, lookup) : lookup();
}

async function tokenIdentity(kms: Kms, digest: string): Promise<OvhIdentity> {
  const row = await (await ovhDb(kms))
    .selectFrom('tokens')
    .select(['id', 'tenant_id', 'okms_id', 'identities', 'revoked_at', 'expires_at'])
    .where('token_sha256', '=', digest)
    .executeTakeFirst();
  if (!row) throw new Unauthenticated('the bearer token is not valid');
  const refuse = (msg: string) => new Unauthenticated(msg, `token:${row.id}`, row.tenant_id);
  if (row.revoked_at) throw refuse('the bearer token has been revoked');
  if (row.expires_at.getTime() < Date.now()) throw refuse('the bearer token has expired');
  const domain = await kms.tenants.binding('ovh', row.okms_id);
  if (domain?.tenant_id !== row.tenant_id) throw refuse('the bearer token is not valid for its domain any more');
  return withPolicies(kms, {
    okmsId: row.okms_id,
    tenantId: row.tenant_id,
    credentialId: row.id,
    principal: `token:${row.id}`,
    identities: row.identities,
    expiresAt: row.expires_at.getTime(),
  });
}

/** The tenant's IAM policies, the same for a certificate and a token. */
async function withPolicies(kms: Kms, who: Omit<OvhIdentity, 'policies'>): Promise<OvhIdentity> {
  const rows = await (await ovhDb(kms))
    .selectFrom('policies')
    .select('document')
    .where('tenant_id', '=', who.tenantId)
    .where('dialect', '=', 'ovh')
    .execute();
  return { ...who, policies: rows.map((r) => parsePolicy(r.document)) };
}
