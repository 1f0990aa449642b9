import type { KeyRecord, KeySpec, KeyState } from '@polykms/core';
import { HuaweiError } from './errors.ts';

/** Core states in Huawei's words: "1" pending activation, "2" enabled, "3" disabled, "4" pending deletion, "5" pending import. */
export function huaweiState(s: KeyState): string {
  switch (s) {
    case 'pre_active':
      return '1';
    case 'active':
      return '2';
    case 'pending_deletion':
      return '4';
    case 'pending_import':
      return '5';
    default:
      return '3';
  }
}

/**
 * key_spec -> core spec. The Chinese national algorithms (SM4, SM2, HMAC_SM3) are refused: OpenSSL here has
 * SM4 only without an authenticated mode and SM3, and Node cannot make SM2 signatures (no SM2 user id).
 */
const SPECS: Record<string, KeySpec> = {
  AES_256: { kind: 'oct', size: 256 },
  RSA_2048: { kind: 'RSA', size: 2048 },
  RSA_3072: { kind: 'RSA', size: 3072 },
  RSA_4096: { kind: 'RSA', size: 4096 },
  EC_P256: { kind: 'EC', curve: 'P-256' },
  EC_P384: { kind: 'EC', curve: 'P-384' },
  SECP256K1: { kind: 'EC', curve: 'secp256k1' },
  ED25519: { kind: 'OKP', curve: 'Ed25519' },
  HMAC_256: { kind: 'HMAC', size: 256 },
  HMAC_384: { kind: 'HMAC', size: 384 },
  HMAC_512: { kind: 'HMAC', size: 512 },
};

export function coreSpec(keySpec: string): KeySpec {
  const s = SPECS[keySpec];
  if (!s) throw new HuaweiError('0308', `key_spec ${keySpec} is not supported here; supported: ${Object.keys(SPECS).join(', ')}.`);
  return s;
}

export function keySpecOf(k: Pick<KeyRecord, 'kind' | 'size' | 'curve'>): string {
  if (k.kind === 'oct') return `AES_${k.size}`;
  if (k.kind === 'RSA') return `RSA_${k.size}`;
  if (k.kind === 'HMAC') return `HMAC_${k.size}`;
  if (k.kind === 'OKP') return 'ED25519';
  if (k.curve === 'secp256k1') return 'SECP256K1';
  return k.curve === 'P-384' ? 'EC_P384' : k.curve === 'P-521' ? 'EC_P521' : 'EC_P256';
}

export function keyUsageOf(k: Pick<KeyRecord, 'kind' | 'ops'>): string {
  if (k.kind === 'HMAC') return 'GENERATE_VERIFY_MAC';
  if (k.kind === 'oct') return 'ENCRYPT_DECRYPT';
  if (k.ops.includes('deriveBits')) return 'KEY_AGREEMENT';
  return k.ops.includes('sign') ? 'SIGN_VERIFY' : 'ENCRYPT_DECRYPT';
}

/** key_usage -> core operations, with Huawei's rules per key type (huawei-kms.md §3 "usage rules"). */
export function opsFor(spec: KeySpec, usage: string | undefined): string[] {
  switch (spec.kind) {
    case 'oct':
      if (usage && usage !== 'ENCRYPT_DECRYPT') throw new HuaweiError('0331', `an AES key is ENCRYPT_DECRYPT; got ${usage}.`);
      return ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'];
    case 'RSA':
      if (usage === 'GENERATE_VERIFY_MAC' || usage === 'KEY_AGREEMENT')
        throw new HuaweiError('0325', 'an RSA key is SIGN_VERIFY or ENCRYPT_DECRYPT.');
      return usage === 'ENCRYPT_DECRYPT' ? ['encrypt', 'decrypt'] : ['sign', 'verify'];
    case 'EC':
    case 'OKP':
      if (usage === 'ENCRYPT_DECRYPT') throw new HuaweiError('1114');
      if (usage === 'KEY_AGREEMENT') return ['deriveBits'];
      if (usage && usage !== 'SIGN_VERIFY') throw new HuaweiError('0325', 'an EC key is SIGN_VERIFY or KEY_AGREEMENT.');
      return ['sign', 'verify'];
    case 'HMAC':
      if (usage && usage !== 'GENERATE_VERIFY_MAC') throw new HuaweiError('0341', 'an HMAC key is GENERATE_VERIFY_MAC.');
      return ['sign', 'verify'];
  }
}

const ms = (d: Date | null) => (d ? String(d.getTime()) : '');
const str = (v: unknown, dflt = '') => (typeof v === 'string' ? v : dflt);

/** KeyDetails (PY-SDK key_details.py): every field a string, dates in milliseconds. */
export function keyDetails(k: KeyRecord) {
  const a = k.attributes;
  return {
    key_id: k.id,
    domain_id: str(a.domain_id),
    key_alias: k.alias ?? k.name,
    realm: str(a.realm),
    key_spec: keySpecOf(k),
    key_usage: keyUsageOf(k),
    key_description: k.description,
    creation_date: ms(k.createdAt),
    scheduled_deletion_date: k.state === 'pending_deletion' ? ms(k.deletionDueAt) : '',
    key_state: huaweiState(k.state),
    default_key_flag: '0',
    key_type: k.kind === 'oct' ? '1' : '2',
    expiration_time: ms(k.materialExpiresAt),
    origin: k.origin === 'imported' ? 'external' : 'kms',
    key_rotation_enabled: k.rotation.nextAt ? 'true' : 'false',
    sys_enterprise_project_id: str(a.enterprise_project_id, '0'),
    keystore_id: '0',
  };
}
