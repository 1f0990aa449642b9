import { hash, timingSafeEqual } from 'node:crypto';
import { normalizeUrl, type CseConfig } from './config.ts';
import { forbidden } from './errors.ts';
import { evaluatePerimeter, type PerimeterInput } from './perimeter.ts';
import type { Authorization, Identity, TokenVerifier } from './tokens.ts';

/**
 * The access rules of https://developers.google.com/workspace/cse/guides/encrypt-and-decrypt-data and
 * the method pages, in one place: which role each method needs, that both tokens name the same user,
 * that the authorization was issued for this KACLS, guests, the owner domain, delegation, perimeters
 * and the privileged allowlist. Every refusal is a 403 that says which rule failed.
 */
export const ROLES = {
  wrap: ['writer', 'upgrader'],
  unwrap: ['reader', 'writer'],
  digest: ['verifier'],
  rewrap: ['migrator'],
  privatekeysign: ['signer'],
  privatekeydecrypt: ['decrypter'],
} as const;
export type RoleMethod = keyof typeof ROLES;

/** An issuer configured for one application only hands out that application's roles. */
const APPLICATION_ROLES: Record<string, readonly string[]> = {
  drive: ['reader', 'writer', 'upgrader'],
  meet: ['reader', 'writer', 'upgrader'],
  calendar: ['reader', 'writer', 'upgrader'],
  gmail: ['signer', 'decrypter'],
  migration: ['migrator', 'verifier'],
};

const GUEST_TYPES = new Set(['google-visitor', 'customer-idp']);

/** Equality that takes the same time wherever the strings differ (both sides hashed first). */
export function sameText(a: string, b: string): boolean {
  // One-shot hashes: a Hash object per side cost twice as much, and its native half waits for the GC.
  return timingSafeEqual(hash('sha256', a, 'buffer'), hash('sha256', b, 'buffer'));
}
const sameEmail = (a: string, b: string) => sameText(a.toLowerCase(), b.toLowerCase());

export class Access {
  private readonly admins: Set<string>;
  private readonly selfUrl: string;
  /** Authorizations (frozen, remembered per token until exp) whose kacls_url was found to be this KACLS. */
  private readonly forThisKacls = new WeakSet<Authorization>();

  constructor(
    readonly config: CseConfig,
    readonly tokens: TokenVerifier,
  ) {
    this.admins = new Set(config.privilegedUsers.map((e) => e.toLowerCase()));
    this.selfUrl = normalizeUrl(config.kaclsUrl);
  }

  /** Both tokens of a user call (wrap, unwrap, privatekey*, delegate). `roles: null` for delegate. */
  async user(
    body: { authentication: string; authorization: string },
    method: RoleMethod | 'delegate',
  ): Promise<{ identity: Identity; authz: Authorization }> {
    const identity = await this.tokens.authenticate(body.authentication);
    const authz = await this.tokens.authorize(body.authorization);
    if (method !== 'delegate') this.role(authz, method);
    this.kaclsUrl(authz);
    if (!sameEmail(authz.email, identity.email))
      throw forbidden(
        `the authorization token is for ${authz.email} but the authentication token is for ${identity.email}`,
        'email_mismatch',
      );
    if (authz.email_type !== undefined && authz.email_type !== 'google') {
      if (!GUEST_TYPES.has(authz.email_type))
        throw forbidden(`authorization token: unknown email_type '${authz.email_type}'`, 'email_type');
      if (!this.config.allowGuests) throw forbidden(`guest access (email_type ${authz.email_type}) is not enabled on this KACLS`, 'guest');
    }
    this.ownerDomain(authz);
    if (method === 'delegate') {
      if (!authz.delegated_to) throw forbidden('delegate needs an authorization token with a delegated_to claim', 'delegated_to');
    } else {
      const dTo = identity.claims.delegated_to;
      if (dTo !== undefined || authz.delegated_to !== undefined) {
        if (typeof dTo !== 'string' || authz.delegated_to === undefined || !sameEmail(dTo, authz.delegated_to))
          throw forbidden('delegated_to differs between the authentication and authorization tokens', 'delegated_to');
        if (typeof identity.claims.resource_name !== 'string' || !sameText(identity.claims.resource_name, authz.resource_name))
          throw forbidden('the delegated authentication token is for another resource', 'delegated_resource');
      }
    }
    return { identity, authz };
  }

  /** The authorization token alone (digest, rewrap: Google's migration service has no user token). */
  async service(authorization: string, method: 'digest' | 'rewrap'): Promise<Authorization> {
    const authz = await this.tokens.authorize(authorization);
    this.role(authz, method);
    this.kaclsUrl(authz);
    this.ownerDomain(authz);
    return authz;
  }

  /** privilegedwrap, privilegedunwrap, privilegedprivatekeydecrypt, wrapprivatekey: an allowlisted admin. */
  async privileged(authentication: string, opts: { allowPeer?: boolean } = {}): Promise<Identity> {
    if (opts.allowPeer) {
      const peer = await this.tokens.peer(authentication);
      if (peer) return peer;
    }
    const identity = await this.tokens.authenticate(authentication);
    if (identity.kind !== 'idp') throw forbidden('privileged methods need an identity provider token', 'privileged');
    if (!this.admins.has(identity.email.toLowerCase()))
      throw forbidden(`${identity.email} is not a privileged user of this KACLS (privilegedUsers)`, 'privileged');
    return identity;
  }

  /** The perimeter's rule on the callers' claims; an unknown non-empty perimeter is refused (fail closed). */
  perimeter(perimeterId: string | undefined, input: PerimeterInput) {
    if (!perimeterId) return;
    const rule = Object.hasOwn(this.config.perimeters, perimeterId) ? this.config.perimeters[perimeterId] : undefined;
    if (!rule) throw forbidden(`perimeter '${perimeterId}' has no rule on this KACLS`, 'perimeter');
    if (!evaluatePerimeter(rule, input)) throw forbidden(`${input.email} is outside perimeter '${perimeterId}'`, 'perimeter');
  }

  private role(authz: Authorization, method: RoleMethod) {
    const roles: readonly string[] = ROLES[method];
    if (!roles.includes(authz.role)) throw forbidden(`role '${authz.role}' may not ${method}; it needs ${roles.join(' or ')}`, 'role');
    const appRoles = authz.application ? APPLICATION_ROLES[authz.application] : undefined;
    if (appRoles && !appRoles.includes(authz.role))
      throw forbidden(`issuer ${authz.iss} (${authz.application}) does not grant role '${authz.role}'`, 'role');
  }

  private kaclsUrl(authz: Authorization) {
    if (this.forThisKacls.has(authz)) return;
    const ok = URL.canParse(authz.kacls_url) && sameText(normalizeUrl(authz.kacls_url), this.selfUrl);
    if (ok && Object.isFrozen(authz)) this.forThisKacls.add(authz);
    if (!ok)
      throw forbidden(
        `authorization token: kacls_url '${authz.kacls_url.slice(0, 300)}' is not this KACLS (${this.config.kaclsUrl})`,
        'kacls_url',
      );
  }

  private ownerDomain(authz: Authorization) {
    const want = this.config.ownerDomain;
    if (want !== undefined && authz.kacls_owner_domain !== undefined && !sameEmail(authz.kacls_owner_domain, want))
      throw forbidden(
        `authorization token: kacls_owner_domain '${authz.kacls_owner_domain}' is not this KACLS's owner domain`,
        'kacls_owner_domain',
      );
  }
}
