import { createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import {
  calculateJwkThumbprint,
  createLocalJWKSet,
  exportJWK,
  SignJWT,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import type { Caller, Kms } from '@polykms/core';
import { normalizeUrl, tenantExternalId, type CseConfig } from './config.ts';
import { CSE_STORAGE } from './store.ts';

const generateKeyPairAsync = promisify(generateKeyPair);

/**
 * This KACLS as a polykms tenant. The tenant is the one bound to (dialect `cse`, external id =
 * `instance` or the normalized `kaclsUrl`), created on first start. Its key-encryption key is an
 * AES-256 core key owned by the `cse` dialect (core's `ownKey`): found by name, created once with a
 * random id, and invisible to every other dialect even when OVH or Huawei namespaces are linked to the
 * tenant (else they could decrypt Workspace's wrapped keys, or delete the KEK). Rotate it with core
 * (as dialect `cse`) and old blobs keep unwrapping, since each blob names its key version. The RS256 key this KACLS signs its own JWTs
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
    const c: Caller = { tenantId, dialect: 'cse', principal: 'system:cse' };
    // Before ownKey: a KEK made before keys had owners must be claimed, not replaced.
    await this.kms.storage(CSE_STORAGE);
    const kek = await this.kms.ownKey(c, {
      name: 'google-cse-kek',
      description: `Google Workspace CSE key-encryption key for ${tenantExternalId(this.config)}`,
      spec: { kind: 'oct', size: 256 },
      ops: ['encrypt', 'decrypt'],
    });
    const kekId = kek.id;
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
