import { expect } from 'vitest';
import { KmsError } from './errors.ts';

/**
 * Awaits `p` and checks it failed with a KmsError of this kind, and, when given, with a message
 * matching `detail` (a RegExp) or with `detail` as its reason (a string).
 */
export const expectKind = async (p: Promise<unknown>, kind: KmsError['kind'], detail?: RegExp | string) => {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, 'expected a KmsError').toBeInstanceOf(KmsError);
  expect((e as KmsError).kind, (e as KmsError).message).toBe(kind);
  if (detail instanceof RegExp) expect((e as KmsError).message).toMatch(detail);
  else if (detail !== undefined) expect((e as KmsError).reason).toBe(detail);
};
