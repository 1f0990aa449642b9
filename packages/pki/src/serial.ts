import { randomBytes } from 'node:crypto';

/**
 * 128 random bits, like the OVH access certificates; CA/Browser rules ask for at least 64. The top
 * bit is cleared so the DER INTEGER stays positive, and the next one set so every serial has the same
 * 16-byte length (no leading zero byte to strip), i.e. 126 random bits.
 */
export function randomSerialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x3f) | 0x40;
  return bytes.toString('hex');
}
