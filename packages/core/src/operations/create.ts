import { randomUUID, timingSafeEqual } from 'node:crypto';
import { isUuid } from '../ciphertext.ts';
import type { Core } from '../context.ts';
import { invalid, KmsError } from '../errors.ts';
import { normalizeOps, normalizeSpec, type KeySpec } from '../keyspec.ts';
import { generateMaterial, importMaterial, type Material } from '../material.ts';
import { materialAad, openMaterial } from '../rootkey.ts';
import type { Caller, CreateKeyInput, ImportKeyInput, KeyRecord } from '../types.ts';
import { authorize, checkTenant, event, run } from './pipeline.ts';
import { insertVersion, mapWriteError, publicOps, storedVersion, toRecord, validateNames } from './rows.ts';

/** A new key and its first version, audited in the same transaction. */
async function insertKey(
  core: Core,
  c: Caller,
  action: 'key.create' | 'key.import',
  input: Omit<CreateKeyInput, 'spec'>,
  m: Material,
  origin: 'generated' | 'imported',
  owner: string | null = null,
): Promise<KeyRecord> {
  const ops = m.publicOnly ? publicOps(m.spec.kind, input.ops) : normalizeOps(m.spec.kind, input.ops);
  const now = core.now();
  const initial = input.initialState ?? 'active';
  if (initial !== 'active' && initial !== 'pre_active') throw invalid('a new key is active or pre-active', 'state');
  const state = input.pendingImport ? 'pending_import' : initial;
  if (input.id !== undefined && !isUuid(input.id)) throw invalid('a key id is a UUID', 'key_id');
  const id = input.id?.toLowerCase() ?? randomUUID();
  const extractable = input.extractable ?? !!m.publicOnly;
  try {
    return await core.db.transaction().execute(async (trx) => {
      const row = await trx
        .insertInto('keys')
        .values({
          id,
          tenant_id: c.tenantId,
          name: input.name,
          description: input.description ?? '',
          alias: input.alias ?? null,
          kind: m.spec.kind,
          size: m.spec.size ?? null,
          curve: m.spec.curve ?? null,
          ops,
          origin,
          state,
          current_version: 1,
          revision: 1,
          created_at: now,
          updated_at: now,
          activated_at: state === 'active' ? now : null,
          attributes: JSON.stringify(input.attributes ?? {}),
          owner,
          extractable,
          never_extractable: !extractable,
          public_only: !!m.publicOnly,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      if (!input.pendingImport) await insertVersion(core, trx, c.tenantId, id, 1, m);
      await core.audit.inTransaction(
        trx,
        event(core, c, action, id, 'allowed', undefined, {
          kind: m.spec.kind,
          size: m.spec.size,
          curve: m.spec.curve,
          extractable,
          ...(input.pendingImport ? { pendingImport: true } : {}),
        }),
      );
      return toRecord(row);
    });
  } catch (e) {
    const err = mapWriteError(e);
    // A client that retries a create after a lost answer (the OVH SDK resends a 5xx with the same
    // body) gets the key its first attempt made, not a conflict; any other use of a taken id is one.
    if (input.id !== undefined && err instanceof KmsError && err.reason === 'key_exists') {
      const same = await replayOf(core, c, id, { ...input, ops, extractable, attributes: input.attributes ?? {} }, m, origin, owner);
      if (same) {
        await core.audit.record(event(core, c, action, id, 'allowed', undefined, { replay: true }));
        return same;
      }
    }
    throw err;
  }
}

/**
 * The existing key `id` when it is exactly what this create would have made: same name, description,
 * alias, kind, size or curve, operations, attributes, extractability, origin, a single version, and for
 * an import the same material (compared in constant time); for a generated key the material cannot
 * be compared, and need not be: the retried request asked for a new random key, which this is.
 */
async function replayOf(
  core: Core,
  c: Caller,
  id: string,
  input: Omit<CreateKeyInput, 'spec'> & {
    ops: readonly string[];
    extractable: boolean;
    attributes: Record<string, unknown>;
  },
  m: Material,
  origin: 'generated' | 'imported',
  owner: string | null,
): Promise<KeyRecord | undefined> {
  const row = await core.db.selectFrom('keys').selectAll().where('tenant_id', '=', c.tenantId).where('id', '=', id).executeTakeFirst();
  if (!row || row.owner !== owner || row.origin !== origin || row.current_version !== 1 || row.state === 'destroyed') return undefined;
  const same =
    row.name === input.name &&
    row.description === (input.description ?? '') &&
    row.alias === (input.alias ?? null) &&
    row.kind === m.spec.kind &&
    row.size === (m.spec.size ?? null) &&
    row.curve === (m.spec.curve ?? null) &&
    row.extractable === input.extractable &&
    row.public_only === !!m.publicOnly &&
    row.ops.length === input.ops.length &&
    row.ops.every((o, i) => o === input.ops[i]) &&
    canonicalJson(row.attributes ?? {}) === canonicalJson(input.attributes);
  if (!same) return undefined;
  if (origin === 'imported') {
    const v = await storedVersion(core.db, c.tenantId, id, 1);
    if (!v) return undefined;
    if (m.publicOnly) {
      if (!v.public_spki || !m.spki || !Buffer.from(v.public_spki).equals(m.spki)) return undefined;
    } else {
      if (!v.material || !v.root_key_id) return undefined;
      const stored = openMaterial(core.keyring, v.root_key_id, v.material, materialAad(c.tenantId, id, 1));
      const equal = stored.length === m.secret.length && timingSafeEqual(stored, m.secret);
      stored.fill(0);
      if (!equal) return undefined;
    }
  }
  return toRecord(row);
}

const canonicalJson = (v: unknown): string =>
  v && typeof v === 'object' && !Array.isArray(v)
    ? `{${Object.keys(v as object)
        .sort()
        .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
        .join(',')}}`
    : Array.isArray(v)
      ? `[${v.map(canonicalJson).join(',')}]`
      : JSON.stringify(v);

export const createKey = (core: Core, c: Caller, input: CreateKeyInput): Promise<KeyRecord> => generateKey(core, c, input, null);

async function generateKey(core: Core, c: Caller, input: CreateKeyInput, owner: string | null): Promise<KeyRecord> {
  return run(core, c, 'key.create', null, async () => {
    checkTenant(c);
    validateNames(input);
    const spec = normalizeSpec(input.spec);
    normalizeOps(spec.kind, input.ops);
    await authorize(c, 'key.create');
    // A key for material the customer brings later has none yet; it counts as imported from the start.
    if (input.pendingImport) return insertKey(core, c, 'key.create', input, { spec, secret: Buffer.alloc(0) }, 'imported', owner);
    return insertKey(core, c, 'key.create', input, await generateMaterial(spec), 'generated', owner);
  });
}

/**
 * A key the calling dialect keeps for its own use (CSE's key-encryption key), found by its name or
 * created once with a random id: no customer can take its id ahead of it, and only this dialect
 * ever lists, uses or changes it, whatever namespaces are linked to the tenant.
 */
export async function ownKey(core: Core, c: Caller, input: Omit<CreateKeyInput, 'id' | 'alias'>): Promise<KeyRecord> {
  checkTenant(c);
  const find = () =>
    core.db
      .selectFrom('keys')
      .selectAll()
      .where('tenant_id', '=', c.tenantId)
      .where('owner', '=', c.dialect)
      .where('name', '=', input.name)
      .executeTakeFirst();
  const found = await find();
  if (found) return toRecord(found);
  try {
    return await generateKey(core, c, { ...input, id: undefined, alias: null }, c.dialect);
  } catch (e) {
    // Another process created it meanwhile (the unique (tenant, owner, name) index): take that one.
    const raced = e instanceof KmsError && e.kind === 'conflict' ? await find() : undefined;
    if (raced) return toRecord(raced);
    throw e;
  }
}

export async function importKey(core: Core, c: Caller, input: ImportKeyInput): Promise<KeyRecord> {
  return run(core, c, 'key.import', null, async () => {
    checkTenant(c);
    validateNames(input);
    await authorize(c, 'key.import');
    return storeImported(core, c, input, importMaterial(input.material));
  });
}

/** Imported material agrees with what the caller said it is (kind, size, curve), or is refused. */
export function checkExpected(m: Material, e: Partial<KeySpec> | undefined) {
  if (e?.kind && e.kind !== m.spec.kind) throw invalid(`the material is a ${m.spec.kind} key, not ${e.kind}`, 'import_key');
  if (e?.size && e.size !== m.spec.size) throw invalid(`the material is a ${m.spec.size}-bit key, not ${e.size}`, 'import_length');
  if (e?.curve && e.curve !== m.spec.curve) throw invalid(`the material is on ${m.spec.curve}, not ${e.curve}`, 'import_key');
}

/**
 * A new key from parsed material, whether it came in clear or wrapped: checked against what the caller
 * declared, then stored and audited as an import. Callers have authorized `key.import` already.
 */
export function storeImported(core: Core, c: Caller, input: Omit<ImportKeyInput, 'material'>, m: Material): Promise<KeyRecord> {
  checkExpected(m, input.expect);
  return insertKey(core, c, 'key.import', input, m, 'imported');
}
