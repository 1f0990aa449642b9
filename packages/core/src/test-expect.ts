import { expect } from 'vitest';
import { KmsError } from './errors.ts';

/** Awaits `p` and checks it failed with a KmsError of this kind (and message). */
export const expectKind = async (p: Promise<unknown>, kind: KmsError['kind'], msg?: RegExp) => {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, 'expected a KmsError').toBeInstanceOf(KmsError);
  expect((e as KmsError).kind).toBe(kind);
  if (msg) expect((e as KmsError).message).toMatch(msg);
};
