import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Caller, Kms } from '../kms.ts';
import { backends, twoTenants } from '../testing.ts';
import { expectKind } from '../test-expect.ts';

describe.each(backends())('random on %s', (backend) => {
  let kms: Kms, alice: Caller, close: () => Promise<void>;
  beforeAll(async () => {
    ({ kms, alice, close } = await twoTenants(backend));
  });
  afterAll(() => close?.());

  it('gives random bytes within bounds', async () => {
    expect((await kms.random(alice, 32)).length).toBe(32);
    await expectKind(kms.random(alice, 0), 'invalid_argument');
    await expectKind(kms.random(alice, 100_000), 'invalid_argument');
  });
});
