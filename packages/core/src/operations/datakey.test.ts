import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Caller, Kms } from '../kms.ts';
import { backends, openTestKms } from '../testing.ts';
import { expectKind } from '../test-expect.ts';

describe.each(backends())('datakey on %s', (backend) => {
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

  it('generates data keys with and without plaintext', async () => {
    const k = await kms.createKey(alice, { name: 'dk', spec: { kind: 'oct', size: 256 } });
    const dk = await kms.generateDataKey(alice, k.id, 32);
    expect(dk.plaintext?.length).toBe(32);
    const back = await kms.decrypt(alice, dk.ciphertext, undefined, { dataKey: true });
    expect(back.plaintext.equals(dk.plaintext!)).toBe(true);
    const blind = await kms.generateDataKey(alice, k.id, 64, { withPlaintext: false });
    expect(blind.plaintext).toBeUndefined();
    expect((await kms.decrypt(alice, blind.ciphertext, undefined, { dataKey: true })).plaintext.length).toBe(64);
    await expectKind(kms.generateDataKey(alice, k.id, 0), 'invalid_argument');
    await expectKind(kms.generateDataKey(alice, k.id, 513), 'invalid_argument');
  });
});
