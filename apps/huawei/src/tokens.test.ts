import { describe, expect, it } from 'vitest';
import type { Kms } from '@polykms/core';
import { TokenService } from './tokens.ts';
import { checkPassword, hashPassword } from './iam.ts';

/** Two replicas on one store: a shared sealed-secret table, reduced to what tokens use of it. */
const sharedStore = () => {
  const secrets = new Map<string, Buffer>();
  return {
    secrets: {
      async putIfAbsent(id: string, s: Uint8Array) {
        if (!secrets.has(id)) secrets.set(id, Buffer.from(s));
        return secrets.get(id)!;
      },
    },
  } as unknown as Kms;
};

describe('IAM tokens and passwords', () => {
  it('a token verifies on any replica sharing the store, expires, and cannot be altered', async () => {
    const store = sharedStore();
    const a = new TokenService(store, 60);
    const b = new TokenService(store, 60);
    const { token, claims } = await a.issue({ u: 'u1', p: 'p1', pn: 'p1', d: 'd1', m: ['password'], g: 0 });
    expect(claims.exp - claims.iat).toBe(60);
    const first = await b.verify(token);
    expect(first).toEqual({ ok: true, claims });
    // Verified once: the same frozen claims come back without a second MAC, and expiry is still checked.
    const again = await b.verify(token);
    expect(again.ok && first.ok && again.claims).toBe(first.ok && first.claims);
    expect(first.ok && Object.isFrozen(first.claims)).toBe(true);
    const expired = await b.verify(token, new Date((claims.exp + 1) * 1000));
    expect(expired.ok).toBe(false);
    expect(!expired.ok && expired.why).toMatch(/^token expires, expires_at: /);
    const [payload, mac] = token.slice(3).split('.');
    const forged = Buffer.from(JSON.stringify({ ...claims, p: 'p2' })).toString('base64url');
    expect((await b.verify(`MII${forged}.${mac}`)).ok).toBe(false);
    expect((await b.verify(`MII${payload}.${Buffer.alloc(32).toString('base64url')}`)).ok).toBe(false);
    expect((await b.verify('garbage')).ok).toBe(false);
    // A replica on another store (another MAC key) does not accept it.
    expect((await new TokenService(sharedStore(), 60).verify(token)).ok).toBe(false);
  });

  it('passwords are scrypt hashes, checked in constant time', async () => {
    const h = await hashPassword('correct horse');
    expect(h).toMatch(/^scrypt\$16384\$8\$1\$/);
    expect(h).not.toContain('correct horse');
    expect(await checkPassword('correct horse', h)).toBe(true);
    expect(await checkPassword('correct horsf', h)).toBe(false);
    expect(await checkPassword('correct horse', undefined)).toBe(false);
  });
});
