import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ExpiringCache, type Kms } from '@polykms/core';

/**
 * Stateless IAM tokens: the claims (user, project, expiry) and an HMAC-SHA256 under a gateway
 * secret sealed in the store, so every replica on the same database checks any replica's tokens.
 * The user is looked up on every use (briefly cached, invalidated on change), so deleting or
 * disabling a user, or taking the project away, ends its tokens at once; a token also names the
 * user's epoch (`g`), raised by a password change, and its id (`n`) can be revoked one by one.
 */
export interface TokenClaims {
  /** user id */
  u: string;
  /** project id and name */
  p: string;
  pn: string;
  /** domain id */
  d: string;
  /** issued / expires, seconds since the epoch */
  iat: number;
  exp: number;
  m: string[];
  /** the token's id (random), what a revocation records */
  n: string;
  /** the user's token epoch when it was issued (absent in tokens from before epochs: 0) */
  g: number;
}

const PREFIX = 'MII';
const KEY_ID = 'huawei.token-key';

export class TokenService {
  private key: Promise<Buffer> | undefined;
  /**
   * Tokens whose MAC checked out, with their claims (frozen), until their `exp`: a client sends the
   * same token with every request, and an HMAC per request was ~8% of a Huawei encrypt-data. Expiry is
   * still checked at every use; the user behind a token is looked up at every use as before.
   */
  private readonly verified = new ExpiringCache<Readonly<TokenClaims>>(10_000);
  constructor(
    private readonly kms: Kms,
    readonly ttlSeconds = 86_400,
  ) {}

  private macKey() {
    this.key ??= this.kms.secrets.putIfAbsent(KEY_ID, randomBytes(32)).catch((e) => {
      this.key = undefined;
      throw e;
    });
    return this.key;
  }

  private async mac(payload: string) {
    return createHmac('sha256', await this.macKey())
      .update(`polykms-huawei-token-v1\0${payload}`)
      .digest();
  }

  async issue(claims: Omit<TokenClaims, 'iat' | 'exp' | 'n'>, now = new Date()): Promise<{ token: string; claims: TokenClaims }> {
    const iat = Math.floor(now.getTime() / 1000);
    const full: TokenClaims = { ...claims, iat, exp: iat + this.ttlSeconds, n: randomBytes(9).toString('base64url') };
    const payload = Buffer.from(JSON.stringify(full)).toString('base64url');
    return { token: `${PREFIX}${payload}.${(await this.mac(payload)).toString('base64url')}`, claims: full };
  }

  /** The claims of a genuine, unexpired token; otherwise why not, in APIGW's words. */
  async verify(token: string, now = new Date()): Promise<{ ok: true; claims: Readonly<TokenClaims> } | { ok: false; why: string }> {
    const fail = { ok: false as const, why: 'decrypt token fail' };
    if (token.length > 4096 || !token.startsWith(PREFIX)) return fail;
    let claims = this.verified.get(token);
    if (!claims) {
      const [payload, mac, extra] = token.slice(PREFIX.length).split('.');
      if (!payload || !mac || extra !== undefined || !/^[A-Za-z0-9_-]+$/.test(payload) || !/^[A-Za-z0-9_-]+$/.test(mac)) return fail;
      const want = await this.mac(payload);
      const got = Buffer.from(mac, 'base64url');
      if (got.length !== want.length || !timingSafeEqual(got, want)) return fail;
      let parsed: TokenClaims;
      try {
        parsed = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as TokenClaims;
      } catch {
        return fail;
      }
      if (typeof parsed.exp !== 'number' || typeof parsed.u !== 'string' || typeof parsed.p !== 'string' || typeof parsed.n !== 'string')
        return fail;
      if (parsed.g === undefined) parsed.g = 0;
      if (!Number.isSafeInteger(parsed.g)) return fail;
      if (Array.isArray(parsed.m)) Object.freeze(parsed.m);
      claims = Object.freeze(parsed);
      this.verified.set(token, claims, claims.exp * 1000);
    }
    if (claims.exp * 1000 <= now.getTime())
      return { ok: false, why: `token expires, expires_at: ${new Date(claims.exp * 1000).toISOString()}` };
    return { ok: true, claims };
  }
}

/** Keystone's timestamp form: microseconds and Z ("2015-11-09T01:42:57.527363Z"). */
export const keystoneTime = (d: Date) => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
