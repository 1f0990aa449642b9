import type { Core } from '../context.ts';
import { invalid, KmsError } from '../errors.ts';
import { generateMaterial, importMaterial, type ImportInput, type Material } from '../material.ts';
import type { Caller } from '../types.ts';
import { change } from './change.ts';
import { insertVersion, specOf, toRecord } from './rows.ts';

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
      if (row.origin === 'imported')
        throw new KmsError('failed_precondition', 'an imported key is rotated by importing new material', 'key_origin');
      m = await generateMaterial(spec);
    }
    const version = row.current_version + 1;
    await insertVersion(core, trx, row.tenant_id, keyId, version, m);
    return { current_version: version };
  });
}
