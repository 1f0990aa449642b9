import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Caller, Kms } from '../kms.ts';
import { backends, twoTenants } from '../testing.ts';
import { expectKind } from '../test-expect.ts';

describe.each(backends())('update on %s', (backend) => {
  let kms: Kms, alice: Caller, bob: Caller, close: () => Promise<void>;
  beforeAll(async () => {
    ({ kms, alice, bob, close } = await twoTenants(backend));
  });
  afterAll(() => close?.());

  it('updates name, description and alias; aliases are unique per tenant', async () => {
    const k = await kms.createKey(alice, { name: 'n1', alias: 'alias/one', spec: { kind: 'oct', size: 256 } });
    const u = await kms.updateKey(alice, k.id, { name: 'n2', description: 'd' });
    expect([u.name, u.description, u.alias]).toEqual(['n2', 'd', 'alias/one']);
    expect(u.revision).toBe(k.revision + 1);
    await expectKind(kms.createKey(alice, { name: 'n3', alias: 'alias/one', spec: { kind: 'oct', size: 256 } }), 'conflict');
    // The same alias in another tenant is fine.
    await kms.createKey(bob, { name: 'n3', alias: 'alias/one', spec: { kind: 'oct', size: 256 } });
    await expectKind(kms.updateKey(alice, k.id, { name: 'x'.repeat(300) }), 'invalid_argument');
    // Text PostgreSQL cannot store is refused with a 4xx kind and the field, not a database error;
    // a surrogate pair (an emoji) is fine.
    for (const [field, bad] of [
      ['name', 'a\u0000b'],
      ['description', 'd\ud800'],
      ['alias', 'alias/\udc00x'],
    ] as const) {
      await expectKind(kms.updateKey(alice, k.id, { [field]: bad }), 'invalid_argument', /NUL character or an unpaired UTF-16 surrogate/);
      await expectKind(kms.createKey(alice, { name: 'n4', [field]: bad, spec: { kind: 'oct', size: 256 } }), 'invalid_argument', /NUL/);
    }
    await expectKind(kms.tenants.create('t\u0000'), 'invalid_argument', /NUL/);
    // The same in a key's attributes (kept as jsonb, where PostgreSQL refuses them too), at any depth,
    // in keys as in values; the reason names the top-level attribute.
    const refused = await kms
      .createKey(alice, { name: 'n5', attributes: { context: 'QUJD\u0000' }, spec: { kind: 'oct', size: 256 } })
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({
      kind: 'invalid_argument',
      reason: 'context',
      message: expect.stringMatching(/attributes cannot hold a NUL/),
    });
    await expectKind(
      kms.updateKey(alice, k.id, { attributes: { tags: [{ 'k\ud800': 1 }] } }),
      'invalid_argument',
      /unpaired UTF-16 surrogate/,
    );
    await expectKind(kms.tenants.bind('test', 'ext-nul', alice.tenantId, { region: 'eu\u0000' }), 'invalid_argument', /NUL/);
    expect((await kms.updateKey(alice, k.id, { attributes: { context: 'ctx \u{1F511}' } })).attributes).toEqual({
      context: 'ctx \u{1F511}',
    });
    expect((await kms.updateKey(alice, k.id, { name: 'key \u{1F511}' })).name).toBe('key \u{1F511}');
    expect((await kms.getKey(alice, k.id)).name).toBe('key \u{1F511}');
  });
});
