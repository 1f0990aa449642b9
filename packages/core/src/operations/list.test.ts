import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Caller, Kms } from '../kms.ts';
import { backends, twoTenants } from '../testing.ts';
import { expectKind } from '../test-expect.ts';

describe.each(backends())('list on %s', (backend) => {
  let kms: Kms, alice: Caller, close: () => Promise<void>;
  beforeAll(async () => {
    ({ kms, alice, close } = await twoTenants(backend));
  });
  afterAll(() => close?.());

  it('lists with keyset pagination and state filters', async () => {
    const t = await kms.tenants.create('pager');
    const c: Caller = { tenantId: t.id, dialect: 'test', principal: 'p' };
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push((await kms.createKey(c, { name: `p${i}`, spec: { kind: 'oct', size: 128 } })).id);
    await kms.deactivate(c, ids[2]!);
    const seen: string[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await kms.listKeys(c, { limit: 3, cursor });
      seen.push(...page.keys.map((k) => k.id));
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    expect(seen).toEqual(ids);
    const deact = await kms.listKeys(c, { states: ['deactivated'] });
    expect(deact.keys.map((k) => k.id)).toEqual([ids[2]]);
    await expectKind(kms.listKeys(c, { cursor: 'garbage!' }), 'invalid_argument', /continuation token/);
    await expectKind(kms.listKeys(c, { cursor: Buffer.from('2020-01-01T00:00:00Z|nope').toString('base64url') }), 'invalid_argument');
    await expectKind(kms.listKeys(c, { limit: 0 }), 'invalid_argument');
  });

  it('searches keys by name, description, alias or id, literally, within the tenant, and counts keys per tenant', async () => {
    const t = await kms.tenants.create('searcher');
    const c: Caller = { tenantId: t.id, dialect: 'test', principal: 's' };
    const payroll = await kms.createKey(c, { name: 'Payroll-2026', spec: { kind: 'oct', size: 256 } });
    const signer = await kms.createKey(c, {
      name: 'release signer',
      description: 'signs the PAYROLL exports',
      spec: { kind: 'EC', curve: 'P-256' },
    });
    const pct = await kms.createKey(c, { name: '100%_sure', alias: 'alias/odd', spec: { kind: 'oct', size: 128 } });
    await kms.createKey(alice, { name: 'payroll of alice', spec: { kind: 'oct', size: 128 } });
    const names = async (search: string, extra: object = {}) =>
      (await kms.listKeys(c, { search, ...extra })).keys.map((k) => k.name).sort();
    expect(await names('payroll')).toEqual(['Payroll-2026', 'release signer']);
    expect(await names('payroll', { kinds: ['EC'] })).toEqual(['release signer']);
    expect(await names(payroll.id.toUpperCase())).toEqual(['Payroll-2026']);
    expect(await names('alias/')).toEqual(['100%_sure']);
    // LIKE's wildcards are text here: '%' and '_' match only themselves.
    expect(await names('%_')).toEqual(['100%_sure']);
    expect(await names('_')).toEqual(['100%_sure']);
    expect(await names('   ')).toHaveLength(3);
    expect(pct.id).not.toBe(signer.id);
    await expectKind(kms.listKeys(c, { search: 'x'.repeat(300) }), 'invalid_argument');
    await expectKind(kms.listKeys(c, { search: 'a\u0000b' }), 'invalid_argument');
    await kms.deactivate(c, signer.id);
    const counts = (await kms.countKeys()).filter((r) => r.tenantId === t.id).sort((a, b) => a.kind.localeCompare(b.kind));
    expect(counts).toEqual([
      { tenantId: t.id, state: 'deactivated', kind: 'EC', count: 1 },
      { tenantId: t.id, state: 'active', kind: 'oct', count: 2 },
    ]);
  });
});
