import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kms } from '../kms.ts';
import { KeyLoader } from './loader.ts';
import { openTestKms, dbOf } from '../testing.ts';

describe('key row cache (single-process store)', () => {
  let kms: Kms;
  let drop: () => Promise<void>;
  let tenantId: string;
  let keyId: string;
  beforeAll(async () => {
    ({ kms, drop } = await openTestKms('pglite'));
    tenantId = (await kms.tenants.create('loader')).id;
    keyId = (await kms.createKey({ tenantId, dialect: 't', principal: 'p' }, { name: 'before', spec: { kind: 'oct', size: 256 } })).id;
  });
  afterAll(async () => {
    await kms?.close();
    await drop?.();
  });
  const rename = (name: string) => dbOf(kms).updateTable('keys').set({ name }).where('id', '=', keyId).execute();

  it('serves repeated reads from memory until the key is invalidated', async () => {
    const loader = new KeyLoader(dbOf(kms), { cacheRows: true });
    expect((await loader.load(tenantId, keyId, null))!.name).toBe('before');
    await rename('behind-its-back');
    expect((await loader.load(tenantId, keyId, null))!.name).toBe('before');
    loader.invalidate(tenantId, keyId);
    expect((await loader.load(tenantId, keyId, null))!.name).toBe('behind-its-back');
    await rename('before');
  });

  it('does not cache a read that was in flight when the key changed', async () => {
    const loader = new KeyLoader(dbOf(kms), { cacheRows: true });
    const inFlight = loader.load(tenantId, keyId, null);
    loader.invalidate(tenantId, keyId);
    await inFlight;
    await rename('after');
    expect((await loader.load(tenantId, keyId, null))!.name).toBe('after');
    await rename('before');
  });

  it("never answers for another tenant's key from memory", async () => {
    const loader = new KeyLoader(dbOf(kms), { cacheRows: true });
    expect(await loader.load(tenantId, keyId, null)).toBeDefined();
    expect(await loader.load('00000000-0000-4000-8000-000000000001', keyId, null)).toBeUndefined();
  });

  it('caches nothing when the store is shared', async () => {
    const loader = new KeyLoader(dbOf(kms));
    expect((await loader.load(tenantId, keyId, null))!.name).toBe('before');
    await rename('shared');
    expect((await loader.load(tenantId, keyId, null))!.name).toBe('shared');
    await rename('before');
  });
});
