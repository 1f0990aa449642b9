/**
 * Bearer tokens for the OVH data plane (`Authorization: Bearer <token>`, the OpenAPI document's
 * `personalAccessToken` scheme): issued by polykms for one domain and a set of identity URNs, so the
 * domain's IAM policies apply to a token exactly as to an access certificate naming the same URNs.
 * The secret is random, shown once at issue and stored only as its SHA-256; a lookup by that digest
 * finds it (a digest of 256 random bits needs no slow hash, and its comparison leaks nothing useful).
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Kms } from '@polykms/core';
import { sql } from 'kysely';
import { ACCESS_TOPIC, ovhDb, type TokensTable } from './store.ts';

/** Tells a polykms OVH token apart from other secrets (and lets secret scanners find a leaked one). */
export const TOKEN_PREFIX = 'polykms_ovh_';
export const DEFAULT_VALIDITY_DAYS = 30;
export const MAX_VALIDITY_DAYS = 365;
const DAY_MS = 86_400_000;

export const tokenDigest = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');

type TokenRow = Pick<TokensTable, 'id' | 'name' | 'description' | 'identities'> & {
  okms_id: string;
  created_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
};

/** What the admin API shows of a token: never the secret, never its digest. */
export function tokenView(r: TokenRow, now = Date.now()) {
  return {
    id: r.id,
    okmsId: r.okms_id,
    name: r.name,
    description: r.description || null,
    identityURNs: r.identities,
    status: r.revoked_at ? 'REVOKED' : r.expires_at.getTime() < now ? 'EXPIRED' : 'ACTIVE',
    createdAt: r.created_at.toISOString(),
    expiresAt: r.expires_at.toISOString(),
    revokedAt: r.revoked_at ? r.revoked_at.toISOString() : null,
  };
}

const COLUMNS = ['id', 'okms_id', 'name', 'description', 'identities', 'created_at', 'expires_at', 'revoked_at'] as const;

export interface IssueToken {
  name: string;
  identityURNs: string[];
  description?: string | undefined;
  /** Days from now; `expiresAt` instead names the instant. One of them or neither (the default). */
  validity?: number | undefined;
  expiresAt?: Date | undefined;
}

/** A new token for a domain; the answer is the only place the secret ever appears. */
export async function issueToken(kms: Kms, domain: { external_id: string; tenant_id: string }, req: IssueToken, now = new Date()) {
  const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
  const expires = req.expiresAt ?? new Date(now.getTime() + (req.validity ?? DEFAULT_VALIDITY_DAYS) * DAY_MS);
  const row = await (await ovhDb(kms))
    .insertInto('tokens')
    .values({
      id: randomUUID(),
      tenant_id: domain.tenant_id,
      okms_id: domain.external_id,
      name: req.name,
      description: req.description ?? '',
      identities: req.identityURNs,
      token_sha256: tokenDigest(token),
      created_at: now,
      expires_at: expires,
    })
    .returning(COLUMNS)
    .executeTakeFirstOrThrow();
  await kms.audit.record({
    at: now,
    tenantId: domain.tenant_id,
    dialect: 'ovh',
    principal: 'admin',
    action: 'token.create',
    keyId: null,
    outcome: 'allowed',
    details: { tokenId: row.id, okmsId: domain.external_id, identities: req.identityURNs, expiresAt: expires.toISOString() },
  });
  return { ...tokenView(row, now.getTime()), token };
}

const tokensOf = async (kms: Kms, okmsId: string) => (await ovhDb(kms)).selectFrom('tokens').select(COLUMNS).where('okms_id', '=', okmsId);

export async function listTokens(kms: Kms, okmsId: string) {
  return (await (await tokensOf(kms, okmsId)).orderBy('created_at').execute()).map((r) => tokenView(r));
}

export async function getToken(kms: Kms, okmsId: string, id: string) {
  const r = await (await tokensOf(kms, okmsId)).where('id', '=', id).executeTakeFirst();
  return r && tokenView(r);
}

/** A tenant's tokens across its domains, for the admin API's view of every credential. */
export async function tenantTokens(kms: Kms, tenantId: string) {
  return (await ovhDb(kms)).selectFrom('tokens').select(COLUMNS).where('tenant_id', '=', tenantId).orderBy('created_at').execute();
}

/**
 * Revokes a token at once in every gateway process (ACCESS_TOPIC empties their identity caches). A
 * second revocation keeps the first one's time; false when the domain has no such token.
 */
export async function revokeToken(kms: Kms, domain: { external_id: string; tenant_id: string }, id: string): Promise<boolean> {
  const now = new Date();
  const row = await (await ovhDb(kms))
    .updateTable('tokens')
    .set({ revoked_at: sql`coalesce(revoked_at, ${now})` })
    .where('okms_id', '=', domain.external_id)
    .where('id', '=', id)
    .returning('id')
    .executeTakeFirst();
  if (!row) return false;
  await kms.publish(ACCESS_TOPIC, id);
  await kms.audit.record({
    at: now,
    tenantId: domain.tenant_id,
    dialect: 'ovh',
    principal: 'admin',
    action: 'token.revoke',
    keyId: null,
    outcome: 'allowed',
    details: { tokenId: id, okmsId: domain.external_id },
  });
  return true;
}
