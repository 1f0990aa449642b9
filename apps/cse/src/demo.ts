import { createPrivateKey, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SignJWT } from 'jose';
import { CseConfigSchema, GOOGLE_AUTHORIZATION_AUDIENCE, type CseConfigFile } from './config.ts';
import { generateKeyPairDetached } from '@polykms/core';

/**
 * `polykms cse demo`: a KACLS configuration that trusts a local identity provider and a local
 * authorization issuer instead of Google, so every method can be tried with curl. FOR TESTING ONLY:
 * whoever reads the private keys in the demo directory can mint tokens this configuration accepts.
 */
export const DEMO_IDP_ISSUER = 'polykms-demo-idp (testing only)';
export const DEMO_AUTHZ_ISSUER = 'polykms-demo-authorization (testing only)';
export const DEMO_AUDIENCE = 'polykms-demo-client';
export const DEMO_USER = 'user@example.com';
export const DEMO_ADMIN = 'admin@example.com';
export const DEMO_RESOURCE = '//googleapis.com/drive/files/demo-document';
export const DEMO_ROLES = ['reader', 'writer', 'upgrader', 'verifier', 'migrator', 'signer', 'decrypter'] as const;

export interface DemoFiles {
  dir: string;
  config: string;
  kaclsUrl: string;
  /** True when the signing keys were made by this call (false: the existing ones were kept). */
  newKeys: boolean;
}

const keyFile = (dir: string, who: 'idp' | 'authorization') => join(dir, `${who}.key.pem`);
const jwksFile = (dir: string, who: 'idp' | 'authorization') => join(dir, `${who}.jwks.json`);

function writePrivate(file: string, text: string) {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, file);
}

function issuerKeys(dir: string, who: 'idp' | 'authorization', force: boolean): boolean {
  if (!force && existsSync(keyFile(dir, who)) && existsSync(jwksFile(dir, who))) return false;
  const { privateKey, publicKey } = generateKeyPairDetached('rsa', { modulusLength: 2048 });
  writePrivate(keyFile(dir, who), privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: `${who}-demo-1`, alg: 'RS256', use: 'sig' };
  writeFileSync(jwksFile(dir, who), `${JSON.stringify({ keys: [jwk] }, null, 2)}\n`);
  return true;
}

/**
 * Writes (or refreshes) the demo: `dir/cse.json`, and for each issuer an RS256 key (0600) and its JWKS
 * (served to the KACLS as file://). Existing keys are kept unless `force`, so tokens minted before
 * still verify against a running gateway.
 */
export function writeDemo(dir: string, kaclsUrl: string, force = false): DemoFiles {
  const abs = resolve(dir);
  mkdirSync(abs, { recursive: true, mode: 0o700 });
  chmodSync(abs, 0o700);
  const a = issuerKeys(abs, 'idp', force);
  const b = issuerKeys(abs, 'authorization', force);
  const doc: CseConfigFile = {
    kaclsUrl,
    name: 'polykms CSE demo (testing only: local token issuers)',
    instance: 'cse-demo',
    identityProviders: [
      {
        name: 'demo identity provider',
        issuer: DEMO_IDP_ISSUER,
        jwksUri: pathToFileURL(jwksFile(abs, 'idp')).href,
        audiences: [DEMO_AUDIENCE],
      },
    ],
    authorizationIssuers: [{ issuer: DEMO_AUTHZ_ISSUER, jwksUri: pathToFileURL(jwksFile(abs, 'authorization')).href }],
    privilegedUsers: [DEMO_ADMIN],
    allowGuests: false,
    perimeters: {},
    peers: [],
  };
  CseConfigSchema.parse(doc);
  const config = join(abs, 'cse.json');
  writePrivate(config, `${JSON.stringify(doc, null, 2)}\n`);
  return { dir: abs, config, kaclsUrl, newKeys: a || b };
}

export interface DemoTokenRequest {
  /** `authentication` (the IdP's token) or one of DEMO_ROLES (an authorization token). */
  kind: 'authentication' | (typeof DEMO_ROLES)[number];
  email?: string | undefined;
  resourceName?: string | undefined;
  perimeterId?: string | undefined;
  spkiHash?: string | undefined;
  delegatedTo?: string | undefined;
  minutes?: number | undefined;
}

/** One token signed by the demo's issuer, as Workspace's IdP or Google's authorization service would send it. */
export async function demoToken(dir: string, r: DemoTokenRequest): Promise<string> {
  const abs = resolve(dir);
  const configFile = join(abs, 'cse.json');
  if (!existsSync(configFile)) throw new Error(`${configFile} does not exist: run polykms cse demo first`);
  const { kaclsUrl } = JSON.parse(readFileSync(configFile, 'utf8')) as { kaclsUrl: string };
  const who = r.kind === 'authentication' ? 'idp' : 'authorization';
  const key: KeyObject = createPrivateKey(readFileSync(keyFile(abs, who), 'utf8'));
  const email = r.email ?? DEMO_USER;
  const claims: Record<string, unknown> =
    r.kind === 'authentication'
      ? {
          email,
          ...(r.delegatedTo ? { delegated_to: r.delegatedTo, resource_name: r.resourceName ?? DEMO_RESOURCE } : {}),
        }
      : {
          email,
          role: r.kind,
          resource_name: r.resourceName ?? DEMO_RESOURCE,
          kacls_url: kaclsUrl,
          ...(r.perimeterId ? { perimeter_id: r.perimeterId } : {}),
          ...(r.spkiHash ? { spki_hash: r.spkiHash, spki_hash_algorithm: 'SHA-256' } : {}),
          ...(r.delegatedTo ? { delegated_to: r.delegatedTo } : {}),
        };
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid: `${who}-demo-1`, typ: 'JWT' })
    .setIssuer(who === 'idp' ? DEMO_IDP_ISSUER : DEMO_AUTHZ_ISSUER)
    .setAudience(who === 'idp' ? DEMO_AUDIENCE : GOOGLE_AUTHORIZATION_AUDIENCE)
    .setIssuedAt(now)
    .setExpirationTime(now + Math.round((r.minutes ?? 60) * 60))
    .sign(key);
}
