import { createHmac } from 'node:crypto';
import { KmsError } from '@polykms/core';
import { badRequest } from './errors.ts';
import type { CseInstance } from './instance.ts';
import type { AuditScope } from './app.ts';

/**
 * Wrapped keys. A blob is core's AES-256-GCM ciphertext under the tenant KEK (0x01 | KEK uuid | KEK
 * version | iv | tag | ciphertext; the header is authenticated), over a payload that carries what the
 * blob is bound to, and a context string (AAD) that separates the two kinds of blob:
 *
 *   wrapped_key          AAD "google-cse/wrapped-key/v1"
 *                        payload 0x01 | u8 len | DEK | u16 len | resource_name | u16 len | perimeter_id
 *   wrapped_private_key  AAD "google-cse/wrapped-private-key/v1"
 *                        payload 0x01 | u16 len | perimeter_id | PKCS#8 DER of the RSA key
 *
 * So a DEK blob never opens as a private key and back, a changed byte fails the GCM tag, and unwrap
 * reads the resource name and perimeter the DEK was wrapped for.
 */
export const DEK_CONTEXT = Buffer.from('google-cse/wrapped-key/v1');
export const PRIVATE_KEY_CONTEXT = Buffer.from('google-cse/wrapped-private-key/v1');
const VERSION = 0x01;

export interface WrappedDek {
  dek: Buffer;
  resourceName: string;
  perimeterId: string;
}

const u16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
};

export function encodeDekPayload(w: WrappedDek): Buffer {
  const rn = Buffer.from(w.resourceName, 'utf8');
  const p = Buffer.from(w.perimeterId, 'utf8');
  if (w.dek.length < 1 || w.dek.length > 255) throw badRequest('key: 1 to 128 bytes', 'key');
  return Buffer.concat([Buffer.from([VERSION, w.dek.length]), w.dek, u16(rn.length), rn, u16(p.length), p]);
}

export function decodeDekPayload(b: Buffer): WrappedDek {
  const bad = () => badRequest('wrapped_key: not a key wrapped by this KACLS', 'wrapped_key');
  if (b.length < 6 || b[0] !== VERSION) throw bad();
  let at = 1;
  const dekLen = b[at++]!;
  const dek = b.subarray(at, (at += dekLen));
  if (at + 2 > b.length) throw bad();
  const rnLen = b.readUInt16BE(at);
  at += 2;
  const rn = b.subarray(at, (at += rnLen));
  if (at + 2 > b.length) throw bad();
  const pLen = b.readUInt16BE(at);
  at += 2;
  const p = b.subarray(at, (at += pLen));
  if (at !== b.length || dek.length !== dekLen || rn.length !== rnLen) throw bad();
  return { dek: Buffer.from(dek), resourceName: rn.toString('utf8'), perimeterId: p.toString('utf8') };
}

export function encodePrivateKeyPayload(pkcs8: Buffer, perimeterId: string): Buffer {
  const p = Buffer.from(perimeterId, 'utf8');
  return Buffer.concat([Buffer.from([VERSION]), u16(p.length), p, pkcs8]);
}

export function decodePrivateKeyPayload(b: Buffer): { pkcs8: Buffer; perimeterId: string } {
  if (b.length < 4 || b[0] !== VERSION)
    throw badRequest('wrapped_private_key: not a private key wrapped by this KACLS', 'wrapped_private_key');
  const pLen = b.readUInt16BE(1);
  if (3 + pLen >= b.length) throw badRequest('wrapped_private_key: not a private key wrapped by this KACLS', 'wrapped_private_key');
  return { perimeterId: b.subarray(3, 3 + pLen).toString('utf8'), pkcs8: Buffer.from(b.subarray(3 + pLen)) };
}

/** Seals a payload under the tenant KEK (current version). */
export async function seal(inst: CseInstance, scope: AuditScope, requestId: string, payload: Buffer, context: Buffer): Promise<Buffer> {
  const { kekId } = await inst.state();
  scope.inCore = true;
  const r = await inst.kms.encrypt(await inst.caller(scope.principal, requestId, scope.details), kekId, payload, context);
  payload.fill(0);
  return r.ciphertext;
}

/** Opens a blob of this tenant's KEK (any version); anything else is a 400 naming the field. */
export async function open(
  inst: CseInstance,
  scope: AuditScope,
  requestId: string,
  blob: Buffer,
  context: Buffer,
  field: string,
): Promise<Buffer> {
  const { kekId } = await inst.state();
  scope.inCore = true;
  try {
    return (
      await inst.kms.decrypt(await inst.caller(scope.principal, requestId, scope.details), blob, context, {
        expectKeyId: kekId,
      })
    ).plaintext;
  } catch (e) {
    if (e instanceof KmsError && (e.kind === 'invalid_argument' || e.kind === 'not_found'))
      throw badRequest(
        `${field}: not ${field === 'wrapped_key' ? 'a key' : 'a private key'} wrapped by this KACLS, or it was altered`,
        field,
      );
    throw e;
  }
}

/**
 * Google's resource key hash (https://developers.google.com/workspace/cse/reference/resource-key-hash):
 * base64(HMAC-SHA256(key = DEK, "ResourceKeyDigest:" + resource_name + ":" + perimeter_id)); the
 * trailing ':' stays when perimeter_id is empty.
 */
export function resourceKeyHash(dek: Uint8Array, resourceName: string, perimeterId: string): string {
  return createHmac('sha256', dek).update(`ResourceKeyDigest:${resourceName}:${perimeterId}`, 'utf8').digest('base64');
}
