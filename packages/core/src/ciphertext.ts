import { invalid } from './errors.ts';
import type { GcmParts } from './crypto.ts';

/**
 * Core's symmetric ciphertext: a self-describing blob, so decrypting needs nothing but the blob and
 * the context. Layout: 0x01 | key uuid (16) | key version (u32 BE) | iv (12) | tag (16) | ciphertext.
 * The 21-byte header is authenticated as part of the AAD, so it cannot be pointed at another version.
 */
/** 0x01: data encrypted by a caller; 0x02: a data key made by the KMS. A blob of one kind never opens as the other. */
export const FORMAT = { data: 0x01, dataKey: 0x02 } as const;
export type CiphertextKind = keyof typeof FORMAT;
export const MAX_VERSION = 0x7fffffff;
export const HEADER_BYTES = 21;
export const CIPHERTEXT_OVERHEAD = HEADER_BYTES + 12 + 16;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (s: unknown): s is string => typeof s === 'string' && UUID_RE.test(s);

export function encodeHeader(keyId: string, version: number, kind: CiphertextKind = 'data'): Buffer {
  if (!Number.isInteger(version) || version < 1 || version > MAX_VERSION)
    throw invalid('the ciphertext names an impossible key version', 'ciphertext');
  const h = Buffer.alloc(HEADER_BYTES);
  h[0] = FORMAT[kind];
  Buffer.from(keyId.replace(/-/g, ''), 'hex').copy(h, 1);
  h.writeUInt32BE(version, 17);
  return h;
}

export function encodeCiphertext(header: Buffer, parts: GcmParts): Buffer {
  return Buffer.concat([header, parts.iv, parts.tag, parts.ciphertext]);
}

export interface ParsedCiphertext {
  kind: CiphertextKind;
  keyId: string;
  version: number;
  header: Buffer;
  parts: GcmParts;
}

export function parseCiphertext(blob: Uint8Array): ParsedCiphertext {
  const b = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  const kind = b[0] === FORMAT.data ? 'data' : b[0] === FORMAT.dataKey ? 'dataKey' : undefined;
  if (b.length < CIPHERTEXT_OVERHEAD || !kind)
    throw invalid('the ciphertext is malformed or was not produced by this service', 'ciphertext');
  const hex = b.subarray(1, 17).toString('hex');
  const keyId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  const version = b.readUInt32BE(17);
  if (version < 1 || version > MAX_VERSION) throw invalid('the ciphertext names an impossible key version', 'ciphertext');
  return {
    kind,
    keyId,
    version,
    header: b.subarray(0, HEADER_BYTES),
    parts: { iv: b.subarray(21, 33), tag: b.subarray(33, 49), ciphertext: b.subarray(49) },
  };
}

/** The GCM AAD: the header, then the caller's context. */
export const ciphertextAad = (header: Buffer, context?: Uint8Array) =>
  context && context.length ? Buffer.concat([header, context]) : header;
