import { createPrivateKey, type KeyObject } from 'node:crypto';
import { compactDecrypt, decodeProtectedHeader } from 'jose';
import type { Core } from '../context.ts';
import { invalid, KmsError, notFound } from '../errors.ts';
import { importMaterial, type Material } from '../material.ts';
import type { Caller, ImportKeyInput, KeyRecord } from '../types.ts';
import { checkWrappingAlgorithm, WRAPPED_FORMATS, type WrappedFormat, type WrappingAlgorithm } from './export.ts';
import { storeImported } from './create.ts';
import { authorize, checkTenant, run } from './pipeline.ts';
import { validateNames } from './rows.ts';
import { useKey } from './usekey.ts';

export interface WrappedImportInput extends Omit<ImportKeyInput, 'material'> {
  /** The transport key: an active RSA key of the caller's tenant, with the unwrapKey operation. */
  wrappingKeyId: string;
  /** What the JWE's plaintext is: RAW (AES bytes), JWK, PKCS1 (RSA DER) or PKCS8 (RSA or EC DER). */
  format: WrappedFormat;
  /** JWE compact serialization, `alg` RSA-OAEP-256 or RSA-OAEP, under the transport key's public half. */
  jwe: string;
}

/** Content encryptions a customer's JOSE library may pick; all authenticated. */
const CONTENT_ALGORITHMS = ['A256GCM', 'A192GCM', 'A128GCM', 'A256CBC-HS512', 'A192CBC-HS384', 'A128CBC-HS256'];

/**
 * The one answer for every way decryption can fail (the key encryption, the content, the tag), so a
 * caller learns nothing about which step refused a JWE it crafted or tampered with.
 */
export const UNWRAP_FAILED =
  'the wrapped key material could not be unwrapped: check that it was wrapped under this transport key with the algorithm its header names';

/**
 * Bring your own key: material the customer wrapped (a JWE) under a transport key held here becomes a
 * new key. Type, size and curve come from the material; anything the caller declared must agree.
 */
export async function importWrapped(core: Core, c: Caller, input: WrappedImportInput): Promise<KeyRecord> {
  return run(core, c, 'key.import', null, async () => {
    checkTenant(c);
    validateNames(input);
    await authorize(c, 'key.import');
    if (!(WRAPPED_FORMATS as readonly string[]).includes(input.format))
      throw invalid(`the wrapped key format is RAW, JWK, PKCS1 or PKCS8; got '${input.format}'`, 'key_format');
    const alg = jweAlgorithm(input.jwe);
    const transport = await transportKey(core, c, input.wrappingKeyId);
    const plaintext = await unwrapJwe(input.jwe, transport.privateKey, alg);
    try {
      const m = decodeWrapped(plaintext, input.format);
      const audited = {
        ...c,
        details: { ...c.details, wrappingKeyId: transport.key.id, format: input.format, algorithm: alg },
      };
      return await storeImported(core, audited, input, m);
    } finally {
      plaintext.fill(0);
    }
  });
}

/**
 * The header is read (not trusted) before any decryption: RSA1_5 is refused here, so no PKCS#1 v1.5
 * decryption ever runs and no padding oracle can exist. The header is the JWE's associated data, so a
 * changed one still fails decryption later.
 */
function jweAlgorithm(jwe: string): WrappingAlgorithm {
  let header: { alg?: unknown; enc?: unknown; zip?: unknown };
  try {
    if (jwe.split('.').length !== 5) throw new Error('parts');
    header = decodeProtectedHeader(jwe);
  } catch {
    throw invalid('the wrapped key is not a JWE compact serialization (five base64url parts, a JSON header first)', 'wrapped_key');
  }
  const alg = checkWrappingAlgorithm(typeof header.alg === 'string' ? header.alg : String(header.alg));
  if (typeof header.enc !== 'string' || !CONTENT_ALGORITHMS.includes(header.enc))
    throw invalid(
      `the JWE content encryption (enc) is one of ${CONTENT_ALGORITHMS.join(', ')}; got '${String(header.enc)}'`,
      'wrapped_key',
    );
  if (header.zip !== undefined) throw invalid('compressed JWEs (zip) are not accepted', 'wrapped_key');
  return alg;
}

/** The transport key's private half, once the caller may unwrap with it and it can (usage, kind, state). */
async function transportKey(core: Core, c: Caller, keyId: string): Promise<{ key: KeyRecord; privateKey: KeyObject }> {
  let used: Awaited<ReturnType<typeof useKey>>;
  try {
    used = await useKey(core, c, 'key.unwrap', keyId, 'unwrapKey', undefined, true);
  } catch (e) {
    if (e instanceof KmsError && e.kind === 'not_found') throw notFound('wrapping key');
    if (e instanceof KmsError && e.kind !== 'permission_denied')
      throw Object.assign(new KmsError(e.kind, `wrapping key: ${e.message}`, 'wrapping_key'), { key: e.key });
    throw e;
  }
  if (used.key.kind !== 'RSA') throw invalid(`the wrapping key must be an RSA key; it is ${used.key.kind}`, 'wrapping_key');
  return { key: used.key, privateKey: used.loaded.key };
}

async function unwrapJwe(jwe: string, privateKey: KeyObject, alg: WrappingAlgorithm): Promise<Buffer> {
  try {
    const { plaintext } = await compactDecrypt(jwe, privateKey, {
      keyManagementAlgorithms: [alg],
      contentEncryptionAlgorithms: CONTENT_ALGORITHMS as never,
    });
    return Buffer.from(plaintext);
  } catch {
    throw invalid(UNWRAP_FAILED, 'unwrap');
  }
}

/**
 * The unwrapped bytes as the declared format. Authenticated decryption has succeeded by now, so the
 * bytes are exactly what whoever wrapped them meant: saying what is wrong with them reveals nothing.
 */
export function decodeWrapped(plaintext: Buffer, format: WrappedFormat): Material {
  let m: Material;
  if (format === 'RAW') m = importMaterial({ format: 'raw', bytes: plaintext });
  else if (format === 'PKCS8') m = importMaterial({ format: 'pkcs8', data: plaintext });
  else if (format === 'PKCS1') {
    let pkcs8: Buffer;
    try {
      pkcs8 = createPrivateKey({ key: plaintext, format: 'der', type: 'pkcs1' }).export({ format: 'der', type: 'pkcs8' });
    } catch {
      throw invalid('the unwrapped material is not a PKCS#1 RSA private key (DER)', 'import_format');
    }
    try {
      m = importMaterial({ format: 'pkcs8', data: pkcs8 });
    } finally {
      pkcs8.fill(0);
    }
  } else {
    let jwk: unknown;
    try {
      jwk = JSON.parse(plaintext.toString('utf8'));
    } catch {
      throw invalid('the unwrapped material is not a JWK (JSON)', 'import_jwk');
    }
    m = importMaterial({ format: 'jwk', jwk: jwk as Record<string, unknown> });
  }
  if (m.publicOnly) throw invalid('the unwrapped JWK is a public key: wrapped import is for secret and private keys', 'import_key');
  return m;
}
