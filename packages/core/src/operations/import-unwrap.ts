import { constants, createDecipheriv, createPrivateKey, privateDecrypt } from 'node:crypto';
import type { Core } from '../context.ts';
import { invalid, KmsError } from '../errors.ts';
import { CURVES, type KeySpec } from '../keyspec.ts';
import { importMaterial, type Material } from '../material.ts';
import { openMaterial } from '../rootkey.ts';
import { checkExpected } from './create.ts';
import { UNWRAP_FAILED } from './import-wrapped.ts';
import { specOf, toRecord, type KeyRow, type TokenRow } from './rows.ts';

/** RFC 5649's alternative initial value: OpenSSL's wrap-pad ciphers take it as their 4-byte IV. */
const KWP_AIV = Buffer.from('a65959a6', 'hex');

/** The one answer for unwrapped bytes that are not a private key: garbage, a public key, another encoding. */
export const NOT_A_PRIVATE_KEY = 'the unwrapped private key is not a PKCS#8 DER private key';

export interface WrappedMaterial {
  /** RSA-OAEP under the token's wrapping key: the key's bytes, or for a key pair the temporary AES key. */
  wrapped: Uint8Array;
  /** A key pair's private key (PKCS#8 DER) under the temporary key, AES key wrap with padding (RFC 5649). */
  privateKey?: Uint8Array | undefined;
}

export const tokenAad = (tenantId: string, keyId: string, id: string) =>
  Buffer.from(`polykms/import-token/v1\0${tenantId}\0${keyId}\0${id}`, 'utf8');

/**
 * The key's material out of what the customer wrapped, checked against the key's spec. A symmetric key
 * is RSA-OAEP-wrapped bytes; a key pair comes as a temporary AES key wrapped that way and its private
 * key wrapped under the temporary key. Every way unwrapping can fail is the same answer.
 */
export function unwrapImport(core: Core, t: TokenRow, input: WrappedMaterial, row: KeyRow): Material {
  const spec = specOf(toRecord(row));
  const pair = spec.kind === 'RSA' || spec.kind === 'EC';
  if (!pair && spec.kind !== 'oct' && spec.kind !== 'HMAC')
    throw new KmsError('unsupported', `${spec.kind} key material cannot be imported this way`, 'import_key');
  if (pair && !input.privateKey?.length)
    throw invalid('a key pair is imported with its private key, wrapped under a temporary AES key', 'import_private_key_missing');
  if (!pair && input.privateKey !== undefined)
    throw invalid('a symmetric key is imported as its wrapped bytes alone, without a private key', 'import_format');
  const secret = rsaUnwrap(core, t, input.wrapped);
  try {
    if (!pair) {
      const m = importMaterial({ format: 'raw', bytes: secret, kind: spec.kind as 'oct' | 'HMAC' });
      checkExpected(m, spec);
      return m;
    }
    if (secret.length !== 16 && secret.length !== 32)
      throw invalid(`the temporary key is 16 or 32 bytes (AES-128 or AES-256); got ${secret.length}`, 'import_temporary_key');
    const der = kwpUnwrap(secret, input.privateKey!);
    try {
      return privateKeyFor(der, spec);
    } finally {
      der.fill(0);
    }
  } finally {
    secret.fill(0);
  }
}

function rsaUnwrap(core: Core, t: TokenRow, wrapped: Uint8Array): Buffer {
  const pkcs8 = openMaterial(core.keyring, t.root_key_id, t.material, tokenAad(t.tenant_id, t.key_id, t.id));
  try {
    // The same answer for every failure: no oracle on the padding.
    return privateDecrypt(
      {
        key: createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }),
        padding: constants.RSA_PKCS1_OAEP_PADDING,
        oaepHash: t.hash === 'SHA-1' ? 'sha1' : 'sha256',
      },
      wrapped,
    );
  } catch {
    throw invalid(UNWRAP_FAILED, 'unwrap');
  } finally {
    pkcs8.fill(0);
  }
}

/** RFC 5649 unwrap: its integrity check fails for a changed, cut or foreign ciphertext, with the same answer as RSA-OAEP. */
function kwpUnwrap(kek: Buffer, wrapped: Uint8Array): Buffer {
  try {
    const d = createDecipheriv(kek.length === 32 ? 'id-aes256-wrap-pad' : 'id-aes128-wrap-pad', kek, KWP_AIV);
    return Buffer.concat([d.update(wrapped), d.final()]);
  } catch {
    throw invalid(UNWRAP_FAILED, 'unwrap');
  }
}

const describe = (s: KeySpec) => (s.kind === 'RSA' ? `an RSA ${s.size}-bit key` : `an ${s.kind} key on ${s.curve}`);

/**
 * The unwrapped bytes as the key pair the key was made for: same type, size and curve. Their integrity
 * was checked by the unwrap, so saying how the spec differs tells the customer only about their own key.
 */
function privateKeyFor(der: Buffer, want: KeySpec): Material {
  let m: Material;
  try {
    m = importMaterial({ format: 'pkcs8', data: der, curves: CURVES });
  } catch (e) {
    if (!(e instanceof KmsError)) throw e;
    const garbage = e.reason === 'import_format' || e.reason === 'import_encoding';
    throw invalid(garbage ? NOT_A_PRIVATE_KEY : e.message, 'import_private_key');
  }
  if (m.spec.kind !== want.kind || m.spec.size !== want.size || m.spec.curve !== want.curve) {
    m.secret.fill(0);
    throw invalid(`the private key is ${describe(m.spec)}; this key is ${describe(want)}`, 'import_private_key');
  }
  return m;
}
