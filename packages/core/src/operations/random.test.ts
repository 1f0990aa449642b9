import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KmsError } from '../errors.ts';
import type { Caller, Kms } from '../kms.ts';
import { backends, openTestKms } from '../testing.ts';

const expectKind = async (p: Promise<unknown>, kind: KmsError['kind'], msg?: RegExp) => {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, 'expected a KmsError').toBeInstanceOf(KmsError);
  expect((e as KmsError).kind).toBe(kind);
  if (msg) expect((e as KmsError).message).toMatch(msg);
};

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
