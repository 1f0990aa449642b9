import { createPrivateKey, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { restoreLeadingZeros } from './jwk.ts';
import { generateKeyPairDetached } from '@polykms/core';

/** What okms-sdk-go sends: the member as a big integer, leading zero bytes gone. */
const stripped = (b: Buffer) => {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i).toString('base64url');
};

describe('restoreLeadingZeros', () => {
  it('puts back the zero an AES key lost (31 bytes -> the 32-byte key)', () => {
    const key = randomBytes(32);
    key[0] = 0;
    key[1] = key[1]! | 1; // exactly one leading zero (a random second byte is zero once in 256 runs)
    const { jwk, restored } = restoreLeadingZeros({ kty: 'oct', k: stripped(key), kid: 'my-key', key_ops: [] });
    expect(Buffer.from(jwk.k as string, 'base64url')).toEqual(key);
    expect(restored).toBe(1);
    expect(jwk.kid).toBe('my-key');
    for (const size of [16, 24]) {
      const k = randomBytes(size);
      k[0] = 0;
      k[1] = 0;
      expect(Buffer.from(restoreLeadingZeros({ kty: 'oct', k: stripped(k) }).jwk.k as string, 'base64url')).toEqual(k);
    }
  });

  it('leaves a curve it does not know, Object prototype names included, for core to refuse', () => {
    for (const crv of ['constructor', '__proto__', 'P-999']) {
      const jwk = { kty: 'EC', crv, x: 'AA', y: 'AA' };
      expect(restoreLeadingZeros(jwk)).toEqual({ jwk, restored: 0 });
    }
  });

  it('leaves full-length keys alone and refuses a k too far from any AES size', () => {
    const k = randomBytes(32).toString('base64url');
    expect(restoreLeadingZeros({ kty: 'oct', k })).toEqual({ jwk: { kty: 'oct', k }, restored: 0 });
    for (const n of [1, 12, 20, 28])
      expect(() => restoreLeadingZeros({ kty: 'oct', k: randomBytes(n).toString('base64url') })).toThrow(/16, 24 or 32 bytes/);
    // longer than 32: left for core to refuse
    expect(restoreLeadingZeros({ kty: 'oct', k: randomBytes(33).toString('base64url') }).restored).toBe(0);
  });

  it('pads EC members to the curve length; the key then equals the original', () => {
    for (const [crv, node] of [
      ['P-256', 'prime256v1'],
      ['P-521', 'secp521r1'],
    ] as const) {
      const full = generateKeyPairDetached('ec', { namedCurve: node }).privateKey.export({ format: 'jwk' }) as Record<string, string>;
      const short = {
        ...full,
        x: stripped(Buffer.concat([Buffer.alloc(1), Buffer.from(full.x!, 'base64url').subarray(1)])),
      };
      const want = {
        ...full,
        x: Buffer.concat([Buffer.alloc(1), Buffer.from(full.x!, 'base64url').subarray(1)]).toString('base64url'),
      };
      const { jwk, restored } = restoreLeadingZeros(short);
      expect(restored).toBeGreaterThanOrEqual(1);
      expect(jwk).toEqual(want);
      expect(crv).toBe(full.crv);
      // an unchanged key passes through
      expect(restoreLeadingZeros(full).jwk).toEqual(full);
      expect(() => createPrivateKey({ key: full, format: 'jwk' })).not.toThrow();
    }
  });
});
