import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Caller, Kms } from './kms.ts';
import { backends, dbOf, twoTenants } from './testing.ts';
import { expectKind } from './test-expect.ts';

describe.each(backends())('tenants on %s', (backend) => {
  let kms: Kms, alice: Caller, close: () => Promise<void>;
  beforeAll(async () => {
    ({ kms, alice, close } = await twoTenants(backend));
  });
  afterAll(() => close?.());

  it('binds dialect namespaces to tenants, creating one on first sight', async () => {
    const t = await kms.tenants.resolve('huawei', 'proj-1', { create: true });
    expect(await kms.tenants.resolve('huawei', 'proj-1')).toBe(t);
    expect(await kms.tenants.resolve('ovh', 'unknown')).toBeUndefined();
    await kms.tenants.bind('ovh', 'okms-1', t!);
    expect(await kms.tenants.resolve('ovh', 'okms-1')).toBe(t);
  });

  it('links namespaces of several dialects to one tenant; a namespace whose tenant holds keys never moves', async () => {
    const shared = await kms.tenants.create('linked');
    const seen: string[] = [];
    const off = kms.subscribe('tenant.bindings', (p) => seen.push(p));
    expect(await kms.tenants.link('ovh', 'okms-linked', shared.id)).toMatchObject({
      tenantId: shared.id,
      moved: false,
    });
    // A project that was used alone (own empty tenant) can still join.
    const alone = await kms.tenants.resolve('huawei', 'proj-linked', { create: true });
    expect(alone).not.toBe(shared.id);
    expect(await kms.tenants.link('huawei', 'proj-linked', 'linked')).toMatchObject({
      tenantId: shared.id,
      moved: true,
    });
    expect(await kms.tenants.resolve('huawei', 'proj-linked')).toBe(shared.id);
    expect((await kms.tenants.bindings(shared.id)).map((b) => `${b.dialect}:${b.external_id}`).sort()).toEqual([
      'huawei:proj-linked',
      'ovh:okms-linked',
    ]);
    expect(seen).toEqual(['ovh:okms-linked', 'huawei:proj-linked']);
    off();
    // A key made through one dialect's namespace is the tenant's: the other namespace reaches it.
    const viaHuawei = {
      tenantId: (await kms.tenants.resolve('huawei', 'proj-linked'))!,
      dialect: 'huawei',
      principal: 'p',
    };
    const k = await kms.createKey(viaHuawei, { name: 'shared', spec: { kind: 'oct', size: 256 } });
    const viaOvh = { tenantId: (await kms.tenants.resolve('ovh', 'okms-linked'))!, dialect: 'ovh', principal: 'o' };
    expect((await kms.getKey(viaOvh, k.id)).id).toBe(k.id);
    // Now the tenant holds a key: its namespaces stay.
    await expectKind(kms.tenants.link('ovh', 'okms-linked', alice.tenantId), 'conflict', /holds keys/);
    await expectKind(kms.tenants.link('ovh', 'x', '00000000-0000-4000-8000-000000000000'), 'not_found');
    await expectKind(kms.tenants.link('ovh', '', shared.id), 'invalid_argument');
  });

  it('refuses a tenant name that reads as a tenant id, and finds a tenant by id before any such name', async () => {
    const t = await kms.tenants.create('by-id');
    for (const name of [t.id, t.id.toUpperCase(), '00000000-0000-4000-8000-000000000000'])
      await expectKind(kms.tenants.create(name), 'invalid_argument', /UUID/);
    // A store from before the rule may hold one: the id still names its own tenant.
    const legacy = '00000000-0000-4000-8000-0000000000aa';
    await dbOf(kms).insertInto('tenants').values({ id: legacy, name: t.id }).execute();
    expect((await kms.tenants.get(t.id))!.name).toBe('by-id');
    expect((await kms.tenants.get(legacy))!.name).toBe(t.id);
  });
});
