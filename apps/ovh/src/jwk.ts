import { invalid } from '@polykms/core';

/**
 * okms-sdk-go writes every JWK member as a big integer (`types/ext_jwk.go` toBase64), so leading zero
 * bytes are stripped: an EC coordinate or `d`, or an AES `k`, arrives short 1 time in 256. RFC 7518
 * wants them full length; the lengths that are possible tell what was lost:
 * - EC `x`, `y`, `d`: the curve fixes the length, so zeros are put back in front; core then checks
 *   the point is on the curve and that `d` gives it, so a damaged key is still refused.
 * - `oct` `k`: no AES key is 13-15, 21-23 or 29-31 bytes; one 1 to 3 bytes short of 16, 24 or 32
 *   is taken as that key with its leading zeros stripped, and they are put back. Further from a size
 *   (a key that began with 4 zero bytes, 1 in 2^32) is refused: never guess more than that.
 * RSA members are integers in JWK already (no fixed length).
 */
const EC_BYTES: Record<string, number> = { 'P-256': 32, 'P-384': 48, 'P-521': 66 };
const AES_BYTES = [16, 24, 32];
const MAX_RESTORED = 3;

export function restoreLeadingZeros(jwk: Record<string, unknown>): { jwk: Record<string, unknown>; restored: number } {
  const out = { ...jwk };
  let restored = 0;
  const pad = (name: string, to: number) => {
    const v = out[name];
    if (typeof v !== 'string' || !/^[A-Za-z0-9_-]+$/.test(v)) return; // core says what is wrong
    const b = Buffer.from(v, 'base64url');
    if (b.length >= to) return;
    restored += to - b.length;
    out[name] = Buffer.concat([Buffer.alloc(to - b.length), b]).toString('base64url');
  };
  if (jwk.kty === 'EC' && typeof jwk.crv === 'string' && Object.hasOwn(EC_BYTES, jwk.crv)) {
    for (const m of ['x', 'y', 'd']) pad(m, EC_BYTES[jwk.crv]!);
  } else if (jwk.kty === 'oct' && typeof jwk.k === 'string' && /^[A-Za-z0-9_-]+$/.test(jwk.k)) {
    const n = Buffer.from(jwk.k, 'base64url').length;
    if (!AES_BYTES.includes(n) && n < 32) {
      const to = AES_BYTES.find((s) => s > n && s - n <= MAX_RESTORED);
      if (to === undefined)
        throw invalid(
          `an AES key is 16, 24 or 32 bytes; JWK 'k' has ${n} (send all ${AES_BYTES.filter((s) => s > n).join(' or ')} bytes, leading zeros included)`,
        );
      pad('k', to);
    }
  }
  return { jwk: out, restored };
}
