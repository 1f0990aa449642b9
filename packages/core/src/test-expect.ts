import { expect } from 'vitest';
import { KmsError } from './errors.ts';
import type { Kms } from './kms.ts';
import { refusalsAudited } from './testing.ts';

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

/**
 * A dialect's security test ends here: every authentication refusal is counted (at least `atLeast`),
 * and audited within the per-source bound, one event each up to it and one summary of the rest. The
 * bound is a burst of 20 a source, then 10 a minute since `since` (when the test began).
 */
export async function expectRefusalsBounded(
  kms: Kms,
  dialect: string,
  opts: { atLeast: number; since: number; isRefusal?: Parameters<typeof refusalsAudited>[2] },
) {
  const r = await refusalsAudited(kms, dialect, opts.isRefusal);
  expect(r.counted).toBeGreaterThanOrEqual(opts.atLeast);
  expect(r.each.length + r.summarized).toBe(r.counted);
  expect(r.summarized).toBeGreaterThan(0);
  expect(r.each.length).toBeLessThanOrEqual(21 + Math.ceil((Date.now() - opts.since) / 6000));
  expect(
    r.each.every(
      (e) =>
        e.outcome === 'denied' &&
        /127\.0\.0\.1/.test(String((e.details as { source?: unknown }).source)) &&
        typeof (e.details as { reason?: unknown }).reason === 'string',
    ),
  ).toBe(true);
}
