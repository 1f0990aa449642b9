import type { Core } from '../context.ts';
import { KmsError } from '../errors.ts';
import type { Caller } from '../types.ts';
import { change } from './change.ts';
import { validateNames, type KeyPatch } from './rows.ts';

export async function updateKey(
  core: Core,
  c: Caller,
  keyId: string,
  input: {
    name?: string;
    description?: string;
    alias?: string | null;
    attributes?: Record<string, unknown>;
    extractable?: boolean;
  },
) {
  // Making a key extractable is a security decision: the audit event says so, whatever else changed.
  const details = input.extractable !== undefined ? { extractable: input.extractable } : undefined;
  return change(
    core,
    c,
    'key.update',
    keyId,
    async (row) => {
      validateNames(input);
      if (input.extractable !== undefined && typeof input.extractable !== 'boolean')
        throw new KmsError('invalid_argument', 'extractable is true or false', 'extractable');
      if (row.state === 'destroyed') throw new KmsError('failed_precondition', 'the key is destroyed and cannot be changed', 'key_state');
      const patch: KeyPatch = {};
      if (input.name !== undefined) patch.name = input.name;
      if (input.description !== undefined) patch.description = input.description;
      if (input.alias !== undefined) patch.alias = input.alias;
      if (input.attributes !== undefined) patch.attributes = JSON.stringify({ ...row.attributes, ...input.attributes });
      if (input.extractable !== undefined) {
        patch.extractable = input.extractable;
        // Once extractable, the material may have left: it can never again be said never to have.
        if (input.extractable) patch.never_extractable = false;
      }
      return patch;
    },
    details,
  );
}
