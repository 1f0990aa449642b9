import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { HuaweiError } from './errors.ts';
import { unwrapCiphertext, wrapCiphertext } from './envelope.ts';

describe("Huawei's ciphertext envelope", () => {
  it('has the documented size 124 + ceil(n/16)*16, round-trips, and names the key in ASCII', () => {
    for (const n of [1, 4, 15, 16, 17, 32, 64, 4096]) {
      const keyId = randomUUID();
      const core = Buffer.concat([Buffer.from([1]), randomBytes(48 + n)]);
      const w = wrapCiphertext(core, keyId);
      expect(w.length, `n=${n}`).toBe(124 + Math.ceil(n / 16) * 16);
      expect(w.subarray(0, 2)).toEqual(Buffer.from([2, 0]));
      expect(w.readUInt16LE(2)).toBe(w.length - 36);
      expect(w.subarray(w.length - 68, w.length - 32).toString('ascii')).toBe(keyId);
      expect(unwrapCiphertext(w)).toEqual({ keyId, coreBlob: core });
    }
    // 4 bytes of plaintext -> 140 bytes -> 188 base64 characters, OTC's lower bound.
    expect(wrapCiphertext(Buffer.alloc(53, 1), randomUUID()).toString('base64')).toHaveLength(188);
  });

  it('refuses a damaged or foreign blob as KMS.2201', () => {
    const w = wrapCiphertext(Buffer.alloc(60, 1), randomUUID());
    // Damage flips bits, so it is never a no-op whatever the random bytes were.
    const flip = (at: number) => {
      const b = Buffer.from(w);
      b[at]! ^= 0xff;
      return b;
    };
    for (const bad of [Buffer.alloc(0), w.subarray(1), Buffer.concat([w, Buffer.from([0])]), flip(10), flip(w.length - 1)]) {
      expect(() => unwrapCiphertext(bad)).toThrow(HuaweiError);
      try {
        unwrapCiphertext(bad);
      } catch (e) {
        expect((e as HuaweiError).code).toBe('2201');
      }
    }
  });
});
