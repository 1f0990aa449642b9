import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CompactSign, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';

/** Test and bench support: token issuers with their own keys and JWKS files, as an IdP or Google would be. */
export type { CryptoKey };

/** A test token issuer: its own RS256 key, its JWKS in a file (file://), tokens minted on demand. */
export class TestIssuer {
  private constructor(
    readonly iss: string,
    readonly kid: string,
    private readonly key: CryptoKey,
    readonly jwksUri: string,
  ) {}

  static async create(dir: string, iss: string, kid = `${iss.replace(/[^a-z0-9]/gi, '')}-1`): Promise<TestIssuer> {
    const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
    const file = join(dir, `${kid}.jwks.json`);
    writeFileSync(file, JSON.stringify({ keys: [jwk] }));
    return new TestIssuer(iss, kid, privateKey, pathToFileURL(file).href);
  }

  /** `exp`/`iat` relative to now (seconds); `kid`/`key` overridable to forge. */
  async mint(
    claims: JWTPayload & Record<string, unknown>,
    o: {
      aud?: string | string[];
      iss?: string;
      expIn?: number;
      iatOffset?: number;
      key?: CryptoKey;
      kid?: string;
      noExp?: boolean;
    } = {},
  ): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    let jwt = new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: o.kid ?? this.kid, typ: 'JWT' })
      .setIssuer(o.iss ?? this.iss)
      .setIssuedAt(now + (o.iatOffset ?? 0));
    if (o.aud !== undefined) jwt = jwt.setAudience(o.aud);
    if (!o.noExp) jwt = jwt.setExpirationTime(now + (o.expIn ?? 3600));
    return jwt.sign(o.key ?? this.key);
  }

  /** Any payload bytes (not JSON, not an object, claims of any type), validly signed: for fuzzing what follows verification. */
  async signRaw(payload: Uint8Array): Promise<string> {
    return new CompactSign(payload).setProtectedHeader({ alg: 'RS256', kid: this.kid, typ: 'JWT' }).sign(this.key);
  }
}
