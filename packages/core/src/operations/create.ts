import { randomUUID } from 'node:crypto';
import { isUuid } from '../ciphertext.ts';
import type { Core } from '../context.ts';
import { invalid, KmsError } from '../errors.ts';
import { normalizeOps, normalizeSpec } from '../keyspec.ts';
import { generateMaterial, importMaterial, type Material } from '../material.ts';
import type { Caller, CreateKeyInput, ImportKeyInput, KeyRecord } from '../types.ts';
import { authorize, checkTenant, event, run } from './pipeline.ts';
import { insertVersion, mapWriteError, publicOps, toRecord, validateNames } from './rows.ts';

/** A new key and its first version, audited in the same transaction. */
async function insertKey(core: Core, c: Caller, action: 'key.create' | 'key.import', input: Omit<CreateKeyInput, 'spec'>, m: Material, origin: 'generated' | 'imported', owner: string | null = null): Promise<KeyRecord> {
  const ops = m.publicOnly ? publicOps(m.spec.kind, input.ops) : normalizeOps(m.spec.kind, input.ops);
  const now = core.now();
  const state = input.initialState ?? 'active';
  if (state !== 'active' && state !== 'pre_active') throw invalid('a new key is active or pre-active', 'state');
  if (input.id !== undefined && !isUuid(input.id)) throw invalid('a key id is a UUID', 'key_id');
  const id = input.id?.toLowerCase() ?? randomUUID();
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
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      await insertVersion(core, trx, c.tenantId, id, 1, m);
      await core.audit.inTransaction(trx, event(core, c, action, id, 'allowed', undefined, { kind: m.spec.kind, size: m.spec.size, curve: m.spec.curve }));
      return toRecord(row);
    });
  } catch (e) {
    throw mapWriteError(e);
  }
}

export const createKey = (core: Core, c: Caller, input: CreateKeyInput): Promise<KeyRecord> => generateKey(core, c, input, null);

async function generateKey(core: Core, c: Caller, input: CreateKeyInput, owner: string | null): Promise<KeyRecord> {
  return run(core, c, 'key.create', null, async () => {
    checkTenant(c);
    validateNames(input);
    const spec = normalizeSpec(input.spec);
    normalizeOps(spec.kind, input.ops);
    await authorize(c, 'key.create');
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
  const find = () => core.db.selectFrom('keys').selectAll().where('tenant_id', '=', c.tenantId).where('owner', '=', c.dialect).where('name', '=', input.name).executeTakeFirst();
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
    const m = importMaterial(input.material);
    const e = input.expect;
    if (e?.kind && e.kind !== m.spec.kind) throw invalid(`the material is a ${m.spec.kind} key, not ${e.kind}`, 'import_key');
    if (e?.size && e.size !== m.spec.size) throw invalid(`the material is a ${m.spec.size}-bit key, not ${e.size}`, 'import_length');
    if (e?.curve && e.curve !== m.spec.curve) throw invalid(`the material is on ${m.spec.curve}, not ${e.curve}`, 'import_key');
    return insertKey(core, c, 'key.import', input, m, 'imported');
  });
}

