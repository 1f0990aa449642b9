import { hash, timingSafeEqual } from 'node:crypto';
import { HuaweiError } from './errors.ts';

/**
 * Huawei's ciphertext shape around core's blob (huawei-kms.md §4): `02 00 | u16 LE (total - 36) |
 * body | ASCII key id (36) | SHA-256 of all before (32)`, where body = pad length (1) | core blob |
 * zero pad. The pad makes the size Huawei's `124 + ceil(n/16)*16` for an n-byte plaintext, so
 * clients that check lengths or the documented regexes see what they expect. Core's blob carries
 * the key, its version and the GCM tag; the digest only tells a damaged blob from a wrong key.
 */
const CORE_OVERHEAD = 49;

export function wrapCiphertext(coreBlob: Uint8Array, keyId: string): Buffer {
  const n = coreBlob.length - CORE_OVERHEAD;
  const total = 124 + Math.ceil(Math.max(n, 1) / 16) * 16;
  const pad = total - (4 + 1 + coreBlob.length + 36 + 32);
  if (pad < 0 || pad > 255) throw new HuaweiError('0103');
  const head = Buffer.alloc(5);
  head[0] = 0x02;
  head.writeUInt16LE(total - 36, 2);
  head[4] = pad;
  const body = Buffer.concat([head, coreBlob, Buffer.alloc(pad), Buffer.from(keyId, 'ascii')]);
  return Buffer.concat([body, hash('sha256', body, 'buffer')]);
}

export function unwrapCiphertext(blob: Uint8Array): { keyId: string; coreBlob: Buffer } {
  const b = Buffer.from(blob);
  const bad = () => new HuaweiError('2201', 'The ciphertext is malformed or was not produced by this service.');
  if (b.length < 4 + 1 + CORE_OVERHEAD + 36 + 32 || b[0] !== 0x02 || b[1] !== 0x00 || b.readUInt16LE(2) !== b.length - 36) throw bad();
  const digest = b.subarray(b.length - 32);
  const body = b.subarray(0, b.length - 32);
  if (!timingSafeEqual(digest, hash('sha256', body, 'buffer'))) throw bad();
  const pad = b[4]!;
  const keyId = body.subarray(body.length - 36).toString('ascii');
  const coreEnd = body.length - 36 - pad;
  if (coreEnd - 5 < CORE_OVERHEAD || body.subarray(coreEnd, body.length - 36).some((x) => x !== 0)) throw bad();
  return { keyId, coreBlob: body.subarray(5, coreEnd) };
}
