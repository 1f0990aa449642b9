import { encodeHeader, invalid, isUuid, MAX_VERSION } from '@polykms/core';

/**
 * OVH's ciphertexts are compact JWE strings clients treat as opaque. Ours is a 5-part compact JWE with
 * `alg: dir`: the protected header names the key (`kid`) and its version, and the three last parts are
 * core's IV, ciphertext and tag. The GCM AAD is core's authenticated header plus the caller's context,
 * so neither the key, the version nor the context can be changed (and core's format byte keeps data
 * keys and ciphertexts apart); the header must be exactly the one
 * we would write, so nothing else in it can be changed either.
 */
export type JweKind = 'ciphertext' | 'datakey';

const header = (keyId: string, version: number, bits: number, kind: JweKind) =>
  Buffer.from(
    JSON.stringify({
      alg: 'dir',
      enc: `A${bits}GCM`,
      kid: keyId,
      'okms.kv': version,
      ...(kind === 'datakey' ? { cty: 'okms.datakey' } : {}),
    }),
  ).toString('base64url');

/** Core ciphertext blob -> compact JWE. */
export function toJwe(blob: Buffer, keyId: string, version: number, bits: number, kind: JweKind): string {
  const iv = blob.subarray(21, 33);
  const tag = blob.subarray(33, 49);
  const ct = blob.subarray(49);
  return `${header(keyId, version, bits, kind)}..${iv.toString('base64url')}.${ct.toString('base64url')}.${tag.toString('base64url')}`;
}

const bad = (what: string) => invalid(`the ${what} is not a ciphertext produced by this KMS`, 'ciphertext');

/** Compact JWE -> core ciphertext blob and the key it names. */
export function fromJwe(jwe: string, kind: JweKind): { keyId: string; blob: Buffer } {
  const what = kind === 'datakey' ? 'data key' : 'ciphertext';
  const parts = jwe.split('.');
  if (parts.length !== 5 || parts.some((p) => !/^[A-Za-z0-9_-]*$/.test(p)) || parts[1] !== '') throw bad(what);
  let h: unknown;
  try {
    h = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8'));
  } catch {
    throw bad(what);
  }
  // The header is the caller's: any JSON value (null, an array, a number) and any member types.
  if (!h || typeof h !== 'object' || Array.isArray(h)) throw bad(what);
  const { kid, enc, 'okms.kv': version } = h as { kid?: unknown; 'okms.kv'?: unknown; enc?: unknown };
  const bits = typeof enc === 'string' ? Number(enc.replace(/^A(\d+)GCM$/, '$1')) : NaN;
  if (
    !isUuid(kid) ||
    typeof version !== 'number' ||
    !Number.isInteger(version) ||
    version < 1 ||
    version > MAX_VERSION ||
    ![128, 192, 256].includes(bits)
  )
    throw bad(what);
  if (header(kid, version, bits, kind) !== parts[0]) throw bad(what);
  const iv = Buffer.from(parts[2]!, 'base64url');
  const ct = Buffer.from(parts[3]!, 'base64url');
  const tag = Buffer.from(parts[4]!, 'base64url');
  if (iv.length !== 12 || tag.length !== 16) throw bad(what);
  return {
    keyId: kid,
    blob: Buffer.concat([encodeHeader(kid, version, kind === 'datakey' ? 'dataKey' : 'data'), iv, tag, ct]),
  };
}
