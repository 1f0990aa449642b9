import { describe, expect, it } from 'vitest';
import { ExpiringCache, KeyCache } from './cache.ts';
import type { Caller } from './kms.ts';
import { createTestDatabase, openTestKms, testKeyring } from './testing.ts';

describe('ExpiringCache', () => {
  it('never returns an entry at or past its expiry, refuses one already expired, and stays bounded', () => {
    let now = 1000;
    const c = new ExpiringCache<string>(2, () => now);
    c.set('a', 'A', 1010);
    c.set('old', 'X', 1000);
    expect(c.get('old')).toBeUndefined();
    expect(c.get('a')).toBe('A');
    now = 1010;
    expect(c.get('a')).toBeUndefined();
    expect(c.size).toBe(0);
    c.set('x', 'x', Infinity);
    c.set('y', 'y', Infinity);
    expect(c.get('x')).toBe('x');
    c.set('z', 'z', Infinity);
    expect([c.get('x'), c.get('y'), c.get('z')]).toEqual(['x', undefined, 'z']);
  });
});

describe('KeyCache', () => {
  it('is bounded, least-recently-used first, and evicts every version of a key', () => {
    const c = new KeyCache<string>(3);
    c.set('a', 1, 'a1');
    c.set('a', 2, 'a2');
    c.set('b', 1, 'b1');
    expect(c.get('a', 1)).toBe('a1');
    c.set('c', 1, 'c1');
    expect(c.size).toBe(3);
    expect(c.get('a', 2)).toBeUndefined();
    c.evictKey('a');
    expect(c.get('a', 1)).toBeUndefined();
    expect(c.get('b', 1)).toBe('b1');
    expect(c.size).toBe(2);
  });
});

const waitFor = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe.runIf(!!process.env.DATABASE_URL)('two processes on one Postgres', () => {
  it('a key changed through one is seen by the other on its very next request, and its cache entry is dropped', async () => {
    const db = await createTestDatabase('postgres');
    const keyring = testKeyring();
    const a = await openTestKms('postgres', { url: db.url, keyring });
    const b = await openTestKms('postgres', { url: db.url, keyring });
    try {
      const t = await a.kms.tenants.create('shared');
      const c: Caller = { tenantId: t.id, dialect: 'test', principal: 'p' };
      const k = await a.kms.createKey(c, { name: 'shared', spec: { kind: 'oct', size: 256 } });
      const { ciphertext } = await b.kms.encrypt(c, k.id, Buffer.from('x'));
      expect(b.kms.cache.get(`${t.id}/${k.id}`, 1)).toBeDefined();
      await a.kms.deactivate(c, k.id);
      // No waiting: state is read from the database on every use.
      await expect(b.kms.encrypt(c, k.id, Buffer.from('x'))).rejects.toMatchObject({ kind: 'failed_precondition' });
      // And the notification drops B's parsed key.
      await waitFor(() => b.kms.cache.get(`${t.id}/${k.id}`, 1) === undefined);
      expect((await b.kms.decrypt(c, ciphertext)).plaintext.toString()).toBe('x');
      await a.kms.destroy(c, k.id);
      await expect(b.kms.decrypt(c, ciphertext)).rejects.toMatchObject({ kind: 'failed_precondition' });
      await waitFor(() => b.kms.cache.get(`${t.id}/${k.id}`, 1) === undefined);
      // A rotation through A is used by B at once.
      const k2 = await a.kms.createKey(c, { name: 'r', spec: { kind: 'oct', size: 256 } });
      await b.kms.encrypt(c, k2.id, Buffer.from('x'));
      await a.kms.rotate(c, k2.id);
      expect((await b.kms.encrypt(c, k2.id, Buffer.from('x'))).version).toBe(2);
    } finally {
      await a.kms.close();
      await b.kms.close();
      await db.drop();
    }
  });
});
