import type { Transaction } from 'kysely';
import type { Core } from '../context.ts';
import type { Database } from '../db/schema.ts';
import { invalid, KmsError } from '../errors.ts';
import { generateMaterial, importMaterial, type ImportInput, type Material } from '../material.ts';
import type { Caller, RotationInput } from '../types.ts';
import { change } from './change.ts';
import { insertVersion, specOf, toRecord, type KeyPatch, type KeyRow } from './rows.ts';

/** Ten years: longer than any vendor's longest period, and well inside the integer column. */
export const MAX_ROTATION_PERIOD_SECONDS = 10 * 366 * 86_400;

const after = (d: Date, seconds: number) => new Date(d.getTime() + seconds * 1000);

/**
 * Makes `m` the key's current version. Any rotation, scheduled or asked for, restarts the schedule's
 * clock: the next one is due a full period from now.
 */
export async function newVersion(core: Core, trx: Transaction<Database>, row: KeyRow, m: Material): Promise<KeyPatch> {
  const version = row.current_version + 1;
  await insertVersion(core, trx, row.tenant_id, row.id, version, m);
  const now = core.now();
  const period = row.rotation_period_seconds;
  return { current_version: version, rotated_at: now, next_rotation_at: row.next_rotation_at && period ? after(now, period) : null };
}

/** Only a key the gateway made can get new material by itself, on demand or on a schedule. */
function refuseImported(row: KeyRow) {
  if (row.origin === 'imported')
    throw new KmsError('failed_precondition', 'an imported key is rotated by importing new material', 'key_origin');
}

/** A new version becomes current; old versions keep decrypting and verifying. */
export async function rotate(core: Core, c: Caller, keyId: string, material?: ImportInput) {
  return change(core, c, 'key.rotate', keyId, async (row, trx) => {
    if (row.state !== 'active' && row.state !== 'pre_active')
      throw new KmsError(
        'failed_precondition',
        `the key is ${row.state.replace('_', ' ')}: only an active or pre-active key can be rotated`,
        'key_state',
      );
    const spec = specOf(toRecord(row));
    let m: Material;
    if (material) {
      m = importMaterial(material);
      if (m.spec.kind !== spec.kind || m.spec.size !== spec.size || m.spec.curve !== spec.curve)
        throw invalid('new material must be the same type and size as the key', 'import_key');
    } else {
      refuseImported(row);
      m = await generateMaterial(spec);
    }
    return newVersion(core, trx, row, m);
  });
}

/**
 * Turns scheduled rotation on or off, or changes its period. Turning it on makes the first rotation due
 * a period from now; a new period while on moves the due date by the difference (it may then be due at
 * once). The period is kept while rotation is off. The sweep (`operations/autorotate.ts`) rotates only
 * active keys.
 */
export async function setRotation(core: Core, c: Caller, keyId: string, input: RotationInput) {
  return change(
    core,
    c,
    'key.update',
    keyId,
    async (row) => {
      const p = input.periodSeconds;
      if (p !== undefined && (!Number.isInteger(p) || p < 1 || p > MAX_ROTATION_PERIOD_SECONDS))
        throw invalid(`a rotation period is 1 to ${MAX_ROTATION_PERIOD_SECONDS} seconds`, 'rotation_period');
      const period = p ?? row.rotation_period_seconds;
      const on = input.enabled ?? row.next_rotation_at !== null;
      if (!on) return { rotation_period_seconds: period, next_rotation_at: null };
      if (period === null) throw invalid('scheduled rotation needs a period', 'rotation_period');
      if (!row.next_rotation_at) {
        refuseImported(row);
        if (row.state === 'destroyed' || row.state === 'pending_deletion')
          throw new KmsError('failed_precondition', `the key is ${row.state.replace('_', ' ')}: it will not rotate again`, 'key_state');
        return { rotation_period_seconds: period, next_rotation_at: after(core.now(), period) };
      }
      const moved = after(row.next_rotation_at, period - (row.rotation_period_seconds ?? period));
      return { rotation_period_seconds: period, next_rotation_at: moved };
    },
    { rotation: input },
  );
}
