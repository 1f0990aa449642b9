import { createHash, createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { calculateJwkThumbprint, createLocalJWKSet, exportJWK, SignJWT, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { KmsError, type Caller, type Kms } from '@polykms/core';
import { normalizeUrl, tenantExternalId, type CseConfig } from './config.ts';

const generateKeyPairAsync = promisify(generateKeyPair);

/**
 * This KACLS as a polykms tenant. The tenant is the one bound to (dialect `cse`, external id =
 * `instance` or the normalized `kaclsUrl`), created on first start. Its key-encryption key is an
 * AES-256 core key whose id is derived from the tenant id, so every process sharing the store finds
 * (or races to create) the same key without a lookup table; rotate it with core and old blobs keep
 * unwrapping, since each blob names its key version. The RS256 key this KACLS signs its own JWTs
 * with (migration, delegation), published at /certs, is a secret sealed under the root key
 * (`putSecretIfAbsent`: two processes starting together keep the first).
 */
export class CseInstance {
  private ready: Promise<{ tenantId: string; kekId: string; signing: SigningKey }> | undefined;

  constructor(
    readonly kms: Kms,
    readonly config: CseConfig,
  ) {}

  state() {
    this.ready ??= this.init().catch((e) => {
      this.ready = undefined;
      throw e;
    });
    return this.ready;
  }

  private async init() {
    const tenantId = (await this.kms.tenants.resolve('cse', tenantExternalId(this.config), { create: true }))!;
    const kekId = derivedUuid(`polykms/cse/kek/${tenantId}`);
    const c: Caller = { tenantId, dialect: 'cse', principal: 'system:cse' };
    try {
      await this.kms.getKey(c, kekId);
    } catch (e) {
      if (!(e instanceof KmsError && e.kind === 'not_found')) throw e;
      await this.kms
        .createKey(c, { id: kekId, name: 'google-cse-kek', description: `Google Workspace CSE key-encryption key for ${tenantExternalId(this.config)}`, spec: { kind: 'oct', size: 256 }, ops: ['encrypt', 'decrypt'] })
        .catch((err: unknown) => {
          if (!(err instanceof KmsError && err.kind === 'conflict')) throw err;
        });
    }
    const secretId = `cse/${tenantId}/jwt-signing-key`;
    let der = await this.kms.secrets.get(secretId);
    if (!der) {
      const { privateKey } = await generateKeyPairAsync('rsa', { modulusLength: 2048, publicExponent: 65537 });
      der = await this.kms.secrets.putIfAbsent(secretId, privateKey.export({ format: 'der', type: 'pkcs8' }));
    }
    return { tenantId, kekId, signing: await signingKey(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })) };
  }

  /** `details` (method, reason, resource ...) go into core's audit event of the operation. */
  async caller(principal: string, requestId?: string, details?: Record<string, unknown>): Promise<Caller> {
    return { tenantId: (await this.state()).tenantId, dialect: 'cse', principal, requestId, details };
  }

  /** The JWKS served at /certs. */
  async jwks(): Promise<JSONWebKeySet> {
    return { keys: [(await this.state()).signing.jwk] };
  }

  async selfKeySet(): Promise<JWTVerifyGetKey> {
    return (await this.state()).signing.keySet;
  }

  /** A JWT signed by this KACLS (iss = its URL). */
  async sign(claims: JWTPayload, audience: string, ttlSeconds: number): Promise<string> {
    const { signing } = await this.state();
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: signing.jwk.kid!, typ: 'JWT' })
      .setIssuer(normalizeUrl(this.config.kaclsUrl))
      .setAudience(audience)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
      .sign(signing.privateKey);
  }
}

interface SigningKey {
  privateKey: KeyObject;
  jwk: { kty: string; n?: string; e?: string; kid?: string; use: string; alg: string };
  keySet: JWTVerifyGetKey;
}

async function signingKey(privateKey: KeyObject): Promise<SigningKey> {
  const pub = await exportJWK(createPublicKey(privateKey));
  const jwk = { kty: pub.kty!, n: pub.n, e: pub.e, kid: await calculateJwkThumbprint(pub), use: 'sig', alg: 'RS256' };
  return { privateKey, jwk, keySet: createLocalJWKSet({ keys: [jwk] }) };
}

/** A UUID (version 8, RFC 9562) from a name, so every process derives the same id. */
export function derivedUuid(name: string): string {
  const h = createHash('sha256').update(name).digest();
  h[6] = (h[6]! & 0x0f) | 0x80;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}
