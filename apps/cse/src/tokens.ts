import { hash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ExpiringCache } from '@polykms/core';
import { decodeJwt, decodeProtectedHeader, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { ALGORITHMS, MIGRATION_AUDIENCE, normalizeUrl, type CseConfig } from './config.ts';
import { CseError, forbidden, unauthenticated } from './errors.ts';
import type { KeySets } from './keysets.ts';

/**
 * The two tokens of every KACLS call, verified with jose as Google specifies them:
 * authentication (https://developers.google.com/workspace/cse/reference/authentication-tokens) and
 * authorization (https://developers.google.com/workspace/cse/reference/authorization-tokens).
 * The unverified `iss` only chooses which configured issuer's keys to try; jose then checks the
 * signature, `iss`, `aud`, `exp` and `nbf` (with the configured clock skew), and `iat` is refused when
 * it lies in the future. What a token was found to be is remembered (by its SHA-256 and its use)
 * until its `exp`, and at most 5 minutes, the time jose already keeps a fetched JWKS: the two RS256
 * checks were most of a wrap or unwrap.
 */

export interface Identity {
  /** `google_email` when the IdP sends it, else `email`: the Workspace user. */
  email: string;
  issuer: string;
  kind: 'idp' | 'delegated' | 'peer';
  claims: JWTPayload & Record<string, unknown>;
}

export interface Authorization {
  iss: string;
  email: string;
  role: string;
  resource_name: string;
  kacls_url: string;
  perimeter_id?: string | undefined;
  email_type?: string | undefined;
  kacls_owner_domain?: string | undefined;
  delegated_to?: string | undefined;
  spki_hash?: string | undefined;
  spki_hash_algorithm?: string | undefined;
  message_id?: string | undefined;
  application?: string | undefined;
  claims: JWTPayload & Record<string, unknown>;
}

const ALLOWED = [...ALGORITHMS];
const VERIFIED_TTL_MS = 5 * 60_000;

type Fail = (message: string, details?: string) => CseError;

export class TokenVerifier {
  private readonly selfIssuer: string;

  constructor(
    private readonly config: CseConfig,
    private readonly keys: KeySets,
    private readonly selfKeys: () => Promise<JWTVerifyGetKey>,
  ) {
    this.selfIssuer = normalizeUrl(config.kaclsUrl);
  }

  private peekIssuer(token: string, what: string, fail: Fail): string {
    try {
      decodeProtectedHeader(token);
      const iss = decodeJwt(token).iss;
      if (typeof iss !== 'string' || !iss) throw fail(`${what} token has no issuer (iss)`, `${what}_issuer`);
      return iss;
    } catch (e) {
      if (e instanceof CseError) throw e;
      throw fail(`${what} token is not a JWT`, `${what}_malformed`);
    }
  }

  private async verify(
    token: string,
    keys: JWTVerifyGetKey,
    o: { issuer: string; audience: string | string[]; algorithms?: string[] | undefined },
    what: string,
    fail: Fail,
  ) {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: o.issuer,
        audience: o.audience,
        algorithms: o.algorithms ?? ALLOWED,
        clockTolerance: this.config.clockSkewSeconds,
        requiredClaims: ['exp', 'iat'],
      }));
    } catch (e) {
      throw joseFailure(e, what, fail);
    }
    if (typeof payload.iat === 'number' && payload.iat > Date.now() / 1000 + this.config.clockSkewSeconds)
      throw fail(`${what} token: "iat" lies in the future`, `${what}_iat`);
    return payload as JWTPayload & Record<string, unknown>;
  }

  private readonly verified = new ExpiringCache<{ claims: JWTPayload }>(10_000);

  /**
   * What `check` made of a token, remembered for that use until the token's `exp` (at most 5 min):
   * the answer depends only on the token, the configuration and the issuer's keys. Frozen, since the
   * next request gets the same object.
   */
  private async remembered<T extends { claims: JWTPayload }>(use: string, token: string, check: () => Promise<T>): Promise<T> {
    const id = `${use}\0${hash('sha256', token, 'base64')}`;
    const hit = this.verified.get(id);
    if (hit) return hit as T;
    const r = Object.freeze(await check());
    Object.freeze(r.claims);
    this.verified.set(id, r, Math.min(r.claims.exp! * 1000, Date.now() + VERIFIED_TTL_MS));
    return r;
  }

  /** The IdP's token, or a delegated token this KACLS issued itself (see /delegate). */
  async authenticate(token: string): Promise<Identity> {
    if (!this.config.enabled)
      throw unauthenticated('this KACLS is not configured (POLYKMS_CSE_CONFIG is not set): every token is refused', 'not_configured');
    return this.remembered('authentication', token, () => this.authenticateOnce(token));
  }

  private async authenticateOnce(token: string): Promise<Identity> {
    const iss = this.peekIssuer(token, 'authentication', unauthenticated);
    if (normalizeIssuer(iss) === this.selfIssuer) {
      const claims = await this.verify(
        token,
        await this.selfKeys(),
        { issuer: iss, audience: this.selfIssuer, algorithms: ['RS256'] },
        'authentication',
        unauthenticated,
      );
      if (typeof claims.delegated_to !== 'string' || typeof claims.resource_name !== 'string')
        throw unauthenticated('a token issued by this KACLS is only accepted as a delegated token', 'authentication_delegation');
      return { email: emailOf(claims), issuer: iss, kind: 'delegated', claims };
    }
    const idps = this.config.identityProviders.filter((p) => p.issuer === iss);
    if (!idps.length)
      throw unauthenticated(`authentication token: issuer '${clip(iss)}' is not a configured identity provider`, 'authentication_issuer');
    let last: unknown;
    for (const idp of idps) {
      try {
        const claims = await this.verify(
          token,
          this.keys.get(idp.jwksUri),
          { issuer: idp.issuer, audience: idp.audiences, algorithms: idp.algorithms },
          'authentication',
          unauthenticated,
        );
        return { email: emailOf(claims), issuer: iss, kind: 'idp', claims };
      } catch (e) {
        last = e;
      }
    }
    throw last;
  }

  /** A migration JWT from a configured peer KACLS (privilegedunwrap during a rewrap). */
  async peer(token: string): Promise<Identity | undefined> {
    if (!this.config.enabled) return undefined;
    let iss: string;
    try {
      iss = decodeJwt(token).iss ?? '';
    } catch {
      return undefined;
    }
    const peer = this.config.peers.find((p) => URL.canParse(iss) && normalizeUrl(p.url) === normalizeUrl(iss));
    if (!peer) return undefined;
    const ca = peer.caFile ? readFileSync(peer.caFile, 'utf8') : undefined;
    const claims = await this.verify(
      token,
      this.keys.get(peer.jwksUri ?? `${peer.url.replace(/\/+$/, '')}/certs`, ca),
      { issuer: iss, audience: MIGRATION_AUDIENCE },
      'authentication',
      unauthenticated,
    );
    if (typeof claims.kacls_url !== 'string' || !URL.canParse(claims.kacls_url) || normalizeUrl(claims.kacls_url) !== this.selfIssuer)
      throw forbidden('migration token: kacls_url does not name this KACLS', 'kacls_url');
    return { email: `kacls:${normalizeUrl(iss)}`, issuer: iss, kind: 'peer', claims };
  }

  /** Google's authorization token, from one of the configured issuers, with the claims every method needs. */
  async authorize(token: string): Promise<Authorization> {
    if (!this.config.enabled)
      throw forbidden('this KACLS is not configured (POLYKMS_CSE_CONFIG is not set): every token is refused', 'not_configured');
    return this.remembered('authorization', token, () => this.authorizeOnce(token));
  }

  private async authorizeOnce(token: string): Promise<Authorization> {
    const iss = this.peekIssuer(token, 'authorization', forbidden);
    const issuer = this.config.authorizationIssuers.find((i) => i.issuer === iss);
    if (!issuer)
      throw forbidden(`authorization token: issuer '${clip(iss)}' is not a configured authorization issuer`, 'authorization_issuer');
    const claims = await this.verify(
      token,
      this.keys.get(issuer.jwksUri),
      { issuer: issuer.issuer, audience: this.config.authorizationAudience },
      'authorization',
      forbidden,
    );
    const str = (name: string, required: boolean) => {
      const v = claims[name];
      if (v === undefined || v === null) {
        if (required) throw forbidden(`authorization token has no "${name}" claim`, `authorization_${name}`);
        return undefined;
      }
      if (typeof v !== 'string') throw forbidden(`authorization token: "${name}" must be a string`, `authorization_${name}`);
      return v;
    };
    const a: Authorization = {
      iss,
      email: str('email', true)!,
      role: str('role', true)!,
      resource_name: str('resource_name', true)!,
      kacls_url: str('kacls_url', true)!,
      perimeter_id: str('perimeter_id', false),
      email_type: str('email_type', false),
      kacls_owner_domain: str('kacls_owner_domain', false),
      delegated_to: str('delegated_to', false),
      spki_hash: str('spki_hash', false),
      spki_hash_algorithm: str('spki_hash_algorithm', false),
      message_id: str('message_id', false),
      application: issuer.application,
      claims,
    };
    if (Buffer.byteLength(a.resource_name) > 512)
      throw forbidden('authorization token: resource_name is longer than 512 bytes', 'authorization_resource_name');
    if (a.perimeter_id !== undefined && Buffer.byteLength(a.perimeter_id) > 128)
      throw forbidden('authorization token: perimeter_id is longer than 128 bytes', 'authorization_perimeter_id');
    return a;
  }
}

const clip = (s: string) => (s.length > 200 ? `${s.slice(0, 200)}...` : s).replace(/[^\x20-\x7e]/g, '?');
const normalizeIssuer = (iss: string) => (URL.canParse(iss) && iss.startsWith('https://') ? normalizeUrl(iss) : iss);

function emailOf(claims: Record<string, unknown>): string {
  const g = claims.google_email;
  const e = claims.email;
  const email = typeof g === 'string' && g ? g : typeof e === 'string' && e ? e : undefined;
  if (!email) throw unauthenticated('authentication token has neither "google_email" nor "email"', 'authentication_email');
  return email;
}

/** jose's failure as a sentence a Workspace admin can act on; JWKS trouble is the back end's (503). */
function joseFailure(e: unknown, what: string, fail: Fail): CseError {
  if (e instanceof CseError) return e;
  const code = (e as { code?: string }).code ?? '';
  const claim = (e as { claim?: string }).claim;
  const reason = (e as { reason?: string }).reason;
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return fail(`${what} token has expired`, `${what}_expired`);
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (claim === 'aud')
        return fail(
          `${what} token: audience (aud) ${reason === 'missing' ? 'is missing' : 'is not one this KACLS accepts'}`,
          `${what}_audience`,
        );
      if (claim === 'iss') return fail(`${what} token: issuer (iss) is not accepted`, `${what}_issuer`);
      if (claim === 'nbf') return fail(`${what} token is not valid yet (nbf)`, `${what}_nbf`);
      return fail(
        `${what} token: "${claim}" claim ${reason === 'missing' ? 'is missing' : 'is not valid'}`,
        `${what}_${claim ?? 'claims'}`,
      );
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return fail(`${what} token: the signature does not verify`, `${what}_signature`);
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return fail(`${what} token: no key of its issuer matches the token's kid`, `${what}_kid`);
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return fail(`${what} token: its algorithm is not accepted`, `${what}_alg`);
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return fail(`${what} token is malformed`, `${what}_malformed`);
    case 'ERR_JWKS_TIMEOUT':
      return new CseError(503, `${what} token: the issuer's keys (JWKS) could not be fetched in time`, 'jwks_unavailable');
    default:
      return new CseError(503, `${what} token: the issuer's keys (JWKS) could not be loaded`, 'jwks_unavailable');
  }
}
