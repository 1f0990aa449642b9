import { createPrivateKey, createPublicKey } from 'node:crypto';
import { CompactEncrypt } from 'jose';
import type { Core } from '../context.ts';
import { invalid, KmsError, notFound } from '../errors.ts';
import { materialAad, openMaterial } from '../rootkey.ts';
import { assertUsable } from '../states.ts';
import type { Caller, KeyRecord } from '../types.ts';
import { allowed, authorize, run } from './pipeline.ts';
import { keyRow, storedVersion, toRecord } from './rows.ts';

export const WRAPPED_FORMATS = ['RAW', 'JWK', 'PKCS1', 'PKCS8'] as const;
export type WrappedFormat = (typeof WRAPPED_FORMATS)[number];
/**
 * RSA-OAEP (SHA-1) and RSA-OAEP-256. RSA1_5 (RSAES-PKCS1-v1_5) is not offered, in either direction:
 * unwrapping it invites a padding oracle, and no client needs it where OAEP is available.
 */
export const WRAPPING_ALGORITHMS = ['RSA-OAEP', 'RSA-OAEP-256'] as const;
export type WrappingAlgorithm = (typeof WRAPPING_ALGORITHMS)[number];

export interface ExportInput {
  wrappingKeyId: string;
  format: WrappedFormat;
  algorithm: WrappingAlgorithm | string;
  /** The longest JWE the caller's API can carry (OVH: 5000 characters); longer is refused, not sent. */
  maxLength?: number | undefined;
}

export interface WrappedExport {
  key: KeyRecord;
  wrappingKeyId: string;
  format: WrappedFormat;
  /** JWE compact: `alg` the wrapping algorithm, `enc` A256GCM, `kid` the transport key's id. */
  jwe: string;
}

export function checkWrappingAlgorithm(alg: string): WrappingAlgorithm {
  if (alg === 'RSA1_5') throw invalid('RSA1_5 (RSAES-PKCS1-v1_5) is not offered: use RSA-OAEP-256 (or RSA-OAEP)', 'wrapping_algorithm');
  if (!(WRAPPING_ALGORITHMS as readonly string[]).includes(alg))
    throw invalid(`the wrapping algorithm is RSA-OAEP-256 or RSA-OAEP; got '${alg}'`, 'wrapping_algorithm');
  return alg as WrappingAlgorithm;
}

/**
 * The key's current material, wrapped under a transport key of the same tenant: an RSA key with the
 * wrapKey operation (typically a public key the customer imported). Only an extractable key leaves,
 * and it never leaves in clear: the material is unsealed, encoded and encrypted here.
 */
export async function exportWrapped(core: Core, c: Caller, keyId: string, input: ExportInput): Promise<WrappedExport> {
  return run(core, c, 'key.export', keyId, async () => {
    const key = toRecord(await keyRow(core, c, keyId));
    await authorize(c, 'key.export', key);
    const alg = checkWrappingAlgorithm(input.algorithm);
    if (!(WRAPPED_FORMATS as readonly string[]).includes(input.format))
      throw invalid(`the wrapped key format is RAW, JWK, PKCS1 or PKCS8; got '${input.format}'`, 'key_format');
    const facts = { kind: key.kind, ops: key.ops, state: key.state };
    if (!key.extractable)
      throw Object.assign(
        new KmsError(
          'failed_precondition',
          'the key is not extractable; make it extractable first (it is then never again "never extractable")',
          'not_extractable',
        ),
        { key: facts },
      );
    try {
      assertUsable(key.state, 'process');
    } catch (e) {
      throw Object.assign(e as KmsError, { key: facts });
    }

    let wrapping: KeyRecord;
    try {
      wrapping = toRecord(await keyRow(core, c, input.wrappingKeyId));
    } catch (e) {
      if (e instanceof KmsError && e.kind === 'not_found') throw notFound('wrapping key');
      throw e;
    }
    await authorize(c, 'key.wrap', wrapping);
    if (wrapping.id === key.id) throw invalid('a key cannot wrap itself', 'wrapping_key');
    if (wrapping.kind !== 'RSA') throw invalid(`the wrapping key must be an RSA key; it is ${wrapping.kind}`, 'wrapping_key');
    if (!wrapping.ops.includes('wrapKey'))
      throw invalid(`the wrapping key does not have the wrapKey operation; its operations are ${wrapping.ops.join(', ')}`, 'wrapping_key');
    if (wrapping.state !== 'active') throw invalid(`the wrapping key is ${wrapping.state.replace('_', ' ')}, not active`, 'wrapping_key');
    const pub = await storedVersion(core.db, wrapping.tenantId, wrapping.id, wrapping.currentVersion);
    if (!pub?.public_spki) throw new KmsError('failed_precondition', 'the wrapping key has no public key', 'wrapping_key');
    const wrappingKey = createPublicKey({ key: Buffer.from(pub.public_spki), format: 'der', type: 'spki' });

    const plaintext = await encodeMaterial(core, key, input.format);
    try {
      const jwe = await new CompactEncrypt(plaintext)
        .setProtectedHeader({ alg, enc: 'A256GCM', kid: wrapping.id, cty: `polykms.${input.format.toLowerCase()}` })
        .encrypt(wrappingKey);
      if (input.maxLength !== undefined && jwe.length > input.maxLength)
        throw invalid(
          `the wrapped key would be ${jwe.length} characters, more than the ${input.maxLength} this API carries; export it as ${key.kind === 'RSA' || key.kind === 'EC' ? 'PKCS8' : 'RAW'}`,
          'key_format',
        );
      await allowed(core, c, 'key.export', key.id, {
        wrappingKeyId: wrapping.id,
        format: input.format,
        algorithm: alg,
        version: key.currentVersion,
      });
      return { key, wrappingKeyId: wrapping.id, format: input.format, jwe };
    } finally {
      plaintext.fill(0);
    }
  });
}

/** The current version's material in the asked format: RAW for AES keys, PKCS1 for RSA, PKCS8 for RSA and EC, JWK for all. */
async function encodeMaterial(core: Core, key: KeyRecord, format: WrappedFormat): Promise<Buffer> {
  const v = await storedVersion(core.db, key.tenantId, key.id, key.currentVersion);
  const refuse = (what: string) =>
    invalid(
      `a ${what} is not exported as ${format}; ${key.kind === 'oct' ? 'use RAW or JWK' : key.publicOnly ? 'use JWK' : `use JWK, PKCS8${key.kind === 'RSA' ? ' or PKCS1' : ''}`}`,
      'key_format',
    );
  if (key.publicOnly) {
    if (!v?.public_spki) throw new KmsError('failed_precondition', 'the key material is destroyed', 'key_state');
    if (format !== 'JWK') throw refuse('public key');
    return Buffer.from(
      JSON.stringify(createPublicKey({ key: Buffer.from(v.public_spki), format: 'der', type: 'spki' }).export({ format: 'jwk' })),
    );
  }
  if (!v?.material || !v.root_key_id) throw new KmsError('failed_precondition', 'the key material is destroyed', 'key_state');
  const secret = openMaterial(core.keyring, v.root_key_id, v.material, materialAad(key.tenantId, key.id, key.currentVersion));
  try {
    if (key.kind === 'oct' || key.kind === 'HMAC') {
      if (format === 'RAW') return Buffer.from(secret);
      if (format === 'JWK') return Buffer.from(JSON.stringify({ kty: 'oct', k: secret.toString('base64url') }));
      throw refuse(`${key.kind === 'oct' ? 'symmetric' : 'HMAC'} key`);
    }
    const priv = createPrivateKey({ key: secret, format: 'der', type: 'pkcs8' });
    if (format === 'PKCS8') return Buffer.from(secret);
    if (format === 'JWK') return Buffer.from(JSON.stringify(priv.export({ format: 'jwk' })));
    if (format === 'PKCS1' && key.kind === 'RSA') return priv.export({ format: 'der', type: 'pkcs1' });
    throw refuse(`${key.kind} key`);
  } finally {
    secret.fill(0);
  }
}
