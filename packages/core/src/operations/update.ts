import type { Core } from '../context.ts';
import { KmsError } from '../errors.ts';
import type { Caller } from '../types.ts';
import { change } from './change.ts';
import { validateNames, type KeyPatch } from './rows.ts';

export async function updateKey(core: Core, c: Caller, keyId: string, input: { name?: string; description?: string; alias?: string | null; attributes?: Record<string, unknown> }) {
  return change(core, c, 'key.update', keyId, async (row) => {
    validateNames(input);
    if (row.state === 'destroyed') throw new KmsError('failed_precondition', 'the key is destroyed and cannot be changed', 'key_state');
    const patch: KeyPatch = {};
    if (input.name !== undefined) patch.name = input.name;
    if (input.description !== undefined) patch.description = input.description;
    if (input.alias !== undefined) patch.alias = input.alias;
    if (input.attributes !== undefined) patch.attributes = JSON.stringify({ ...row.attributes, ...input.attributes });
    return patch;
  });
}
