import type { ExpressionBuilder, Kysely, Selectable, Transaction, Updateable } from 'kysely';
import { unstorableText } from '../audit.ts';
import { isUuid } from '../ciphertext.ts';
import type { Core } from '../context.ts';
import type { Database, ImportTokensTable, KeysTable } from '../db/schema.ts';
import { invalid, KmsError, notFound } from '../errors.ts';
import { normalizeOps, type Curve, type KeyKind, type KeyOp, type KeySpec, type OkpCurve } from '../keyspec.ts';
import { PUBLIC_OPS, type Material } from '../material.ts';
import { materialAad, sealMaterial } from '../rootkey.ts';
import type { DeactivationReason, KeyState } from '../states.ts';
import { DESCRIPTION_MAX, NAME_MAX, type Caller, type KeyRecord } from '../types.ts';
import { checkTenant } from './pipeline.ts';

export type KeyRow = Selectable<KeysTable>;
export type KeyPatch = Updateable<KeysTable>;
/** An import token's row: the sealed RSA wrapping key and what it was issued for. */
export type TokenRow = Selectable<ImportTokensTable>;

export const toRecord = (r: KeyRow): KeyRecord => ({
  id: r.id,
  tenantId: r.tenant_id,
  name: r.name,
  description: r.description,
  alias: r.alias,
  kind: r.kind as KeyKind,
  size: r.size,
  curve: r.curve as Curve | OkpCurve | null,
  ops: r.ops as KeyOp[],
  origin: r.origin as 'generated' | 'imported',
  state: r.state as KeyState,
  currentVersion: r.current_version,
  revision: r.revision,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  activatedAt: r.activated_at,
  deactivatedAt: r.deactivated_at,
  deactivationReason: r.deactivation_reason as DeactivationReason | null,
  compromisedAt: r.compromised_at,
  deletionDueAt: r.deletion_due_at,
  destroyedAt: r.destroyed_at,
  attributes: r.attributes ?? {},
  owner: r.owner,
  extractable: r.extractable,
  neverExtractable: r.never_extractable,
  publicOnly: r.public_only,
  rotation: { periodSeconds: r.rotation_period_seconds, nextAt: r.next_rotation_at, lastAt: r.rotated_at },
  materialExpiresAt: r.material_expires_at ?? null,
});

/**
 * Linking shares a tenant's customer keys (no owner) with every dialect; a key a dialect keeps for its
 * own use exists for that dialect alone, so any other gets not_found, as for a missing key.
 */
export const visibleTo = (c: Caller) => (eb: ExpressionBuilder<Database, 'keys'>) =>
  eb.or([eb('owner', 'is', null), eb('owner', '=', c.dialect)]);
export const canSee = (c: Caller, row: { owner: string | null }) => row.owner === null || row.owner === c.dialect;

/** Key ids are unique per tenant only: caches and notifications name a key by both. */
export const scopedKey = (tenantId: string, keyId: string) => `${tenantId}/${keyId}`;

/** A public key's operations: the public ones its kind allows, by default; a private one is refused. */
export function publicOps(kind: KeyKind, ops: readonly string[] | undefined): KeyOp[] {
  const possible = normalizeOps(kind, undefined).filter((o) => (PUBLIC_OPS as readonly string[]).includes(o));
  if (ops === undefined) return possible;
  const wanted = normalizeOps(kind, ops);
  const bad = wanted.filter((o) => !possible.includes(o));
  if (bad.length) throw invalid(`this is a public key (no private part): it can ${possible.join(', ')}, not ${bad.join(', ')}`, 'key_ops');
  return wanted;
}

export const specOf = (k: { kind: KeyKind; size: number | null; curve: Curve | OkpCurve | null }): KeySpec =>
  k.kind === 'EC' || k.kind === 'OKP' ? { kind: k.kind, curve: k.curve! } : { kind: k.kind, size: k.size! };

/** PostgreSQL stores no NUL and no unpaired surrogate: such a name is the caller's mistake, not a 500. */
export function refuseUnstorable(label: string, value: string, field?: string) {
  if (unstorableText(value)) throw invalid(`${label} cannot hold a NUL character or an unpaired UTF-16 surrogate`, field);
}

/** The same for every text of a value kept as jsonb (keys and strings at any depth); `field`: the top-level key. */
export function refuseUnstorableIn(label: string, v: unknown, field?: string): void {
  if (typeof v === 'string') refuseUnstorable(label, v, field);
  else if (Array.isArray(v)) for (const x of v) refuseUnstorableIn(label, x, field);
  else if (v && typeof v === 'object')
    for (const [k, x] of Object.entries(v)) {
      refuseUnstorable(label, k, field ?? k);
      refuseUnstorableIn(label, x, field ?? k);
    }
}

/** The caller's key row (another tenant's key is not found), locked for a change when asked. */
export async function keyRow(core: Core, c: Caller, keyId: string, trx?: Transaction<Database>, forUpdate = false): Promise<KeyRow> {
  checkTenant(c);
  if (!isUuid(keyId)) throw notFound();
  let q = (trx ?? core.db).selectFrom('keys').selectAll().where('tenant_id', '=', c.tenantId).where('id', '=', keyId).where(visibleTo(c));
  if (forUpdate) q = q.forUpdate();
  const row = await q.executeTakeFirst();
  if (!row) throw notFound();
  return row;
}

export function validateNames(input: {
  name?: string | undefined;
  description?: string | undefined;
  alias?: string | null | undefined;
  attributes?: Record<string, unknown> | undefined;
}) {
  if (input.name !== undefined && (typeof input.name !== 'string' || input.name.length < 1 || input.name.length > NAME_MAX))
    throw invalid(`a key name is 1 to ${NAME_MAX} characters`, 'name');
  if (input.description !== undefined && (typeof input.description !== 'string' || input.description.length > DESCRIPTION_MAX))
    throw invalid(`a description is at most ${DESCRIPTION_MAX} characters`, 'description');
  if (
    input.alias !== undefined &&
    input.alias !== null &&
    (typeof input.alias !== 'string' || input.alias.length < 1 || input.alias.length > NAME_MAX)
  )
    throw invalid(`an alias is 1 to ${NAME_MAX} characters`, 'alias');
  for (const [field, label] of [
    ['name', 'a key name'],
    ['description', 'a description'],
    ['alias', 'an alias'],
  ] as const) {
    const v = input[field];
    if (typeof v === 'string') refuseUnstorable(label, v, field);
  }
  refuseUnstorableIn("a key's attributes", input.attributes);
}

/** A stored version of a key: its sealed material and root key, and its public key (all an imported public key has). */
export const storedVersion = (db: Kysely<Database>, tenantId: string, keyId: string, version: number) =>
  db
    .selectFrom('key_versions')
    .select(['material', 'root_key_id', 'public_spki'])
    .where('tenant_id', '=', tenantId)
    .where('key_id', '=', keyId)
    .where('version', '=', version)
    .executeTakeFirst();

/** A version's material sealed under the current root key (a public key alone is kept in clear). */
export async function insertVersion(core: Core, trx: Transaction<Database>, tenantId: string, keyId: string, version: number, m: Material) {
  const root = core.keyring.current;
  await trx
    .insertInto('key_versions')
    .values(
      m.publicOnly
        ? { tenant_id: tenantId, key_id: keyId, version, root_key_id: null, material: null, public_spki: m.spki! }
        : {
            tenant_id: tenantId,
            key_id: keyId,
            version,
            root_key_id: root.id,
            material: sealMaterial(root, m.secret, materialAad(tenantId, keyId, version)),
            public_spki: m.spki ?? null,
          },
    )
    .execute();
}

/** Constraint violations in the words of a key: a taken alias or id, a tenant gone. */
export function mapWriteError(e: unknown): unknown {
  const code = (e as { code?: string }).code;
  if (code === '23505') {
    const constraint = (e as { constraint?: string }).constraint ?? '';
    return constraint.includes('alias')
      ? new KmsError('conflict', 'a key with this alias already exists', 'alias_exists')
      : new KmsError('conflict', 'a key with this id already exists', 'key_exists');
  }
  if (code === '23503') return notFound('tenant');
  return e;
}
