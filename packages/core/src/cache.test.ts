import { describe, expect, it } from 'vitest';
import { ExpiringCache, KeyCache, LoadingCache } from './cache.ts';
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

describe('LoadingCache', () => {
  const deferred = <T>() => {
    let resolve!: (v: T) => void;
    let reject!: (e: unknown) => void;
    const p = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
    return { p, resolve, reject };
  };

  it('shares one load among the requests that miss together, then answers from memory until the TTL', async () => {
    let now = 1000;
    const c = new LoadingCache<string>(100, 10, () => now);
    const d = deferred<string>();
    let loads = 0;
    const load = () => (loads++, d.p);
    const waiting = Array.from({ length: 32 }, () => c.get('k', load));
    expect(loads).toBe(1);
    d.resolve('v1');
    expect(await Promise.all(waiting)).toEqual(Array(32).fill('v1'));
    expect(await c.get('k', async () => 'other')).toBe('v1');
    now = 1100;
    expect(await c.get('k', async () => (loads++, 'v2'))).toBe('v2');
    expect(loads).toBe(2);
  });

  it('keeps a value no longer than its own expiry, and remembers that nothing was found', async () => {
    let now = 1000;
    const c = new LoadingCache<{ exp: number } | undefined>(100, 10, () => now);
    await c.get(
      'short',
      async () => ({ exp: 1010 }),
      (v) => v!.exp,
    );
    now = 1010;
    expect(
      await c.get(
        'short',
        async () => ({ exp: 5000 }),
        (v) => v!.exp,
      ),
    ).toEqual({ exp: 5000 });
    let loads = 0;
    await c.get('none', async () => (loads++, undefined));
    expect(await c.get('none', async () => (loads++, { exp: 1 }))).toBeUndefined();
    expect(loads).toBe(1);
  });

  it('after clear(), a load already under way is neither cached nor shared with later requests', async () => {
    const c = new LoadingCache<string>(60_000);
    const old = deferred<string>();
    const before = c.get('k', () => old.p);
    c.clear(); // e.g. the credential was revoked while its row was being read
    const fresh = deferred<string>();
    const after = c.get('k', () => fresh.p);
    fresh.resolve('after the change');
    expect(await after).toBe('after the change');
    old.resolve('before the change'); // settles last: it must not overwrite the new state
    expect(await before).toBe('before the change');
    expect(await c.get('k', async () => 'reloaded')).toBe('after the change');
  });

  it('does not cache a failed load: every waiter gets the error, the next request loads again', async () => {
    const c = new LoadingCache<string>(60_000);
    const d = deferred<string>();
    const a = c.get('k', () => d.p);
    const b = c.get('k', async () => 'not called');
    d.reject(new Error('store unavailable'));
    await expect(a).rejects.toThrow('store unavailable');
    await expect(b).rejects.toThrow('store unavailable');
    expect(await c.get('k', async () => 'recovered')).toBe('recovered');
  });

  it('put() answers at once, and a load under way when it came is not cached', async () => {
    const c = new LoadingCache<boolean>(60_000);
    const d = deferred<boolean>();
    const reading = c.get('token-1', () => d.p);
    c.put('token-1', true); // revoked here while its row was being read
    d.resolve(false);
    expect(await reading).toBe(false);
    expect(await c.get('token-1', async () => false)).toBe(true);
  });

  it('shares a load for a bounded time, so one that hangs holds up only the requests that joined it', async () => {
    let now = 0;
    const c = new LoadingCache<string>(60_000, 10, () => now, 5_000);
    const hung = deferred<string>();
    const stuck = c.get('k', () => hung.p);
    now = 4_999;
    const joined = c.get('k', async () => 'not called');
    now = 5_000;
    expect(await c.get('k', async () => 'fresh')).toBe('fresh');
    hung.resolve('late');
    expect(await stuck).toBe('late');
    expect(await joined).toBe('late');
  });

  it('turns a load that throws at once into a rejection, like any failed load', async () => {
    const c = new LoadingCache<string>(60_000);
    await expect(
      c.get('k', () => {
        throw new Error('bad key');
      }),
    ).rejects.toThrow('bad key');
    expect(await c.get('k', async () => 'ok')).toBe('ok');
  });
});
