import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Caller, Kms } from '../kms.ts';
import { expectKind } from '../test-expect.ts';
import { backends, dbOf, openTestKms } from '../testing.ts';
import type { Action } from '../types.ts';

describe.each(backends())('aliases on %s', (backend) => {
  let kms: Kms;
  let drop: () => Promise<void>;
  let admin: Caller;
  let reader: Caller;
  let stranger: Caller;

  beforeAll(async () => {
    ({ kms, drop } = await openTestKms(backend));
    const t = (await kms.tenants.create('aliases-a')).id;
    admin = { tenantId: t, dialect: 'test', principal: 'admin' };
    reader = {
      tenantId: t,
      dialect: 'test',
      principal: 'reader',
      authorize: (a: Action) => a === 'key.get' || a === 'key.list' || a === 'key.encrypt',
    };
    stranger = { tenantId: (await kms.tenants.create('aliases-b')).id, dialect: 'test', principal: 'stranger' };
  });
  afterAll(async () => {
    await kms?.close();
    await drop?.();
  });

  it('names a key, resolves, lists, moves and deletes, each audited; unique per tenant', async () => {
    const a = await kms.createKey(admin, { name: 'a', alias: 'own-a', spec: { kind: 'oct', size: 256 } });
    const b = await kms.createKey(admin, { name: 'b', spec: { kind: 'oct', size: 256 } });
    const x = await kms.createAlias(admin, a.id, 'alias/x');
    expect(x).toMatchObject({ name: 'alias/x', keyId: a.id });
    await kms.createAlias(admin, a.id, 'alias/y');
    expect(await kms.resolveAlias(admin, 'alias/x')).toBe(a.id);
    // A key's own alias resolves too; an alias cannot take another key's own alias.
    expect(await kms.resolveAlias(admin, 'own-a')).toBe(a.id);
    await expectKind(kms.createAlias(admin, b.id, 'own-a'), 'conflict', 'alias_exists');
    await expectKind(kms.createAlias(admin, b.id, 'alias/x'), 'conflict', 'alias_exists');
    // Another tenant neither sees nor resolves it, and may use the same name for its own key.
    await expectKind(kms.resolveAlias(stranger, 'alias/x'), 'not_found');
    const s = await kms.createKey(stranger, { name: 's', spec: { kind: 'oct', size: 256 } });
    await kms.createAlias(stranger, s.id, 'alias/x');
    expect(await kms.resolveAlias(stranger, 'alias/x')).toBe(s.id);
    await expectKind(kms.createAlias(stranger, a.id, 'alias/z'), 'not_found');

    expect((await kms.listAliases(admin, { limit: 10 })).aliases.map((r) => r.name)).toEqual(['alias/x', 'alias/y']);
    const p1 = await kms.listAliases(admin, { keyId: a.id, limit: 1 });
    expect(p1).toMatchObject({ aliases: [{ name: 'alias/x' }], next: 'alias/x' });
    expect((await kms.listAliases(admin, { keyId: a.id, limit: 1, after: p1.next! })).aliases.map((r) => r.name)).toEqual(['alias/y']);

    const moved = await kms.associateAlias(admin, 'alias/x', b.id);
    expect(moved.keyId).toBe(b.id);
    expect(moved.updatedAt.getTime()).toBeGreaterThanOrEqual(moved.createdAt.getTime());
    expect(await kms.resolveAlias(admin, 'alias/x')).toBe(b.id);
    await expectKind(kms.associateAlias(admin, 'alias/none', b.id), 'not_found');
    await expectKind(kms.associateAlias(stranger, 'alias/y', s.id), 'not_found');

    // All or nothing: a name that is not this key's alias leaves every alias in place.
    await expectKind(kms.deleteAliases(admin, a.id, ['alias/y', 'alias/x']), 'not_found');
    expect(await kms.resolveAlias(admin, 'alias/y')).toBe(a.id);
    expect((await kms.deleteAliases(admin, a.id, ['alias/y'])).map((r) => r.name)).toEqual(['alias/y']);
    await expectKind(kms.resolveAlias(admin, 'alias/y'), 'not_found');

    await kms.sealAudit();
    const ev = await dbOf(kms)
      .selectFrom('audit_events')
      .select('details')
      .where('tenant_id', '=', admin.tenantId)
      .where('action', '=', 'key.update')
      .where('outcome', '=', 'allowed')
      .execute();
    const details = ev.map((e) => e.details);
    expect(details).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ aliasCreated: 'alias/x' }),
        expect.objectContaining({ aliasMoved: 'alias/x', fromKey: a.id }),
        expect.objectContaining({ aliasesDeleted: ['alias/y'] }),
      ]),
    );
  });

  it('needs the right to change every key concerned; bad names are refused', async () => {
    const a = await kms.createKey(admin, { name: 'c', spec: { kind: 'oct', size: 256 } });
    const b = await kms.createKey(admin, { name: 'd', spec: { kind: 'oct', size: 256 } });
    await expectKind(kms.createAlias(reader, a.id, 'alias/r'), 'permission_denied');
    await kms.createAlias(admin, a.id, 'alias/r');
    await expectKind(kms.associateAlias(reader, 'alias/r', b.id), 'permission_denied');
    await expectKind(kms.deleteAliases(reader, a.id, ['alias/r']), 'permission_denied');
    expect(await kms.resolveAlias(reader, 'alias/r')).toBe(a.id);
    expect((await kms.listAliases(reader, { keyId: a.id, limit: 10 })).aliases).toHaveLength(1);
    for (const bad of ['', 'x'.repeat(257), 'nul\0']) await expectKind(kms.createAlias(admin, a.id, bad), 'invalid_argument', 'alias');
    await expectKind(kms.listAliases(admin, { limit: 0 }), 'invalid_argument', 'limit');
  });
});
