import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Caller, Kms } from '../kms.ts';
import { backends, openTestKms } from '../testing.ts';
import { expectKind } from '../test-expect.ts';

describe.each(backends())('random on %s', (backend) => {
  let kms: Kms;
  let drop: () => Promise<void>;
  let alice: Caller;
  let _bob: Caller;

  beforeAll(async () => {
    ({ kms, drop } = await openTestKms(backend));
    const t1 = await kms.tenants.create('alice');
    const t2 = await kms.tenants.create('bob');
    alice = { tenantId: t1.id, dialect: 'test', principal: 'alice-admin', requestId: 'req-1' };
    _bob = { tenantId: t2.id, dialect: 'test', principal: 'bob-admin' };
  });
  afterAll(async () => {
    await kms?.close();
    await drop?.();
  });

  it('gives random bytes within bounds', async () => {
    expect((await kms.random(alice, 32)).length).toBe(32);
    await expectKind(kms.random(alice, 0), 'invalid_argument');
    await expectKind(kms.random(alice, 100_000), 'invalid_argument');
  });
});
