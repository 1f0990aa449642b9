import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Caller, Kms } from '../kms.ts';
import { backends, twoTenants } from '../testing.ts';
import { expectKind } from '../test-expect.ts';

describe.each(backends())('datakey on %s', (backend) => {
  let kms: Kms, alice: Caller, close: () => Promise<void>;
  beforeAll(async () => {
    ({ kms, alice, close } = await twoTenants(backend));
  });
  afterAll(() => close?.());

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
