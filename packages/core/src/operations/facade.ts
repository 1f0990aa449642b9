import type { Core } from '../context.ts';
import type { OaepParams, SignParams } from '../crypto.ts';
import type { KeySpec } from '../keyspec.ts';
import type { ImportInput } from '../material.ts';
import type { DeactivationReason } from '../states.ts';
import type {
  AliasRecord,
  Caller,
  CreateGrantInput,
  CreateKeyInput,
  GrantRecord,
  ImportKeyInput,
  KeyRecord,
  ListInput,
  RotationInput,
} from '../types.ts';
import { deriveSharedSecret } from './agree.ts';
import { associateAlias, createAlias, deleteAliases, listAliases, resolveAlias } from './aliases.ts';
import { createKey, importKey, ownKey } from './create.ts';
import { generateDataKey } from './datakey.ts';
import { generateDataKeyPair } from './datakeypair.ts';
import { decrypt, encrypt, rsaDecrypt, rsaEncrypt } from './encrypt.ts';
import { exportWrapped, type ExportInput } from './export.ts';
import { getKey, getPublicKey } from './get.ts';
import { importWrapped, type WrappedImportInput } from './import-wrapped.ts';
import * as byok from './import-material.ts';
import { createGrant, listGrants, listRetirableGrants, retireGrant, revokeGrant } from './grants.ts';
import { activate, cancelDeletion, deactivate, destroy, destroyDueKeys, scheduleDeletion } from './lifecycle.ts';
import { countKeys, listKeys } from './list.ts';
import { random } from './random.ts';
import { reEncrypt, type ReEncryptSource, type ReEncryptTarget } from './reencrypt.ts';
import { rotate, setRotation } from './rotate.ts';
import { sign, verify } from './sign.ts';
import { updateKey } from './update.ts';

/** Every key operation of the `Kms` facade, one line each; the modules beside this one do the work. */
export class KeyOperations {
  constructor(protected readonly core: Core) {}

  createKey = (c: Caller, input: CreateKeyInput): Promise<KeyRecord> => createKey(this.core, c, input);
  importKey = (c: Caller, input: ImportKeyInput): Promise<KeyRecord> => importKey(this.core, c, input);
  ownKey = (c: Caller, input: Omit<CreateKeyInput, 'id' | 'alias'>): Promise<KeyRecord> => ownKey(this.core, c, input);
  getKey = (c: Caller, keyId: string): Promise<KeyRecord> => getKey(this.core, c, keyId);
  listKeys = (c: Caller, input: ListInput = {}) => listKeys(this.core, c, input);
  countKeys = () => countKeys(this.core);
  updateKey = (c: Caller, keyId: string, input: Parameters<typeof updateKey>[3]) => updateKey(this.core, c, keyId, input);
  activate = (c: Caller, keyId: string) => activate(this.core, c, keyId);
  deactivate = (c: Caller, keyId: string, reason?: DeactivationReason) => deactivate(this.core, c, keyId, reason);
  scheduleDeletion = (c: Caller, keyId: string, pendingDays: number, opts?: { deactivate?: boolean }) =>
    scheduleDeletion(this.core, c, keyId, pendingDays, opts);
  cancelDeletion = (c: Caller, keyId: string) => cancelDeletion(this.core, c, keyId);
  destroy = (c: Caller, keyId: string) => destroy(this.core, c, keyId);
  destroyDueKeys = () => destroyDueKeys(this.core);
  rotate = (c: Caller, keyId: string, material?: ImportInput) => rotate(this.core, c, keyId, material);
  /** Scheduled rotation on or off, or its period (`KeyRecord.rotation`); the sweep makes the versions. */
  setRotation = (c: Caller, keyId: string, input: RotationInput) => setRotation(this.core, c, keyId, input);
  encrypt = (c: Caller, keyId: string, plaintext: Uint8Array, context?: Uint8Array, opts?: Parameters<typeof encrypt>[5]) =>
    encrypt(this.core, c, keyId, plaintext, context, opts);
  decrypt = (c: Caller, ciphertext: Uint8Array, context?: Uint8Array, opts?: Parameters<typeof decrypt>[4]) =>
    decrypt(this.core, c, ciphertext, context, opts);
  generateDataKey = (c: Caller, keyId: string, bytes: number, opts?: Parameters<typeof generateDataKey>[4]) =>
    generateDataKey(this.core, c, keyId, bytes, opts);
  /** A fresh RSA or EC pair: public key in clear, private key sealed under the AES key (and in clear if asked). */
  generateDataKeyPair = (c: Caller, keyId: string, spec: KeySpec, opts?: Parameters<typeof generateDataKeyPair>[4]) =>
    generateDataKeyPair(this.core, c, keyId, spec, opts);
  /** Decrypt under one key, encrypt under another; the plaintext stays in core. */
  reEncrypt = (c: Caller, from: ReEncryptSource, to: ReEncryptTarget, opts?: { activeOnly?: boolean }) =>
    reEncrypt(this.core, c, from, to, opts);
  /** ECDH with a key made for key agreement and a peer's SPKI DER public key. */
  deriveSharedSecret = (c: Caller, keyId: string, peerSpki: Uint8Array, opts?: { activeOnly?: boolean }) =>
    deriveSharedSecret(this.core, c, keyId, peerSpki, opts);
  sign = (
    c: Caller,
    keyId: string,
    params: SignParams | ((k: KeyRecord) => SignParams),
    input: Uint8Array,
    opts?: { activeOnly?: boolean },
  ) => sign(this.core, c, keyId, params, input, opts);
  verify = (
    c: Caller,
    keyId: string,
    params: SignParams | ((k: KeyRecord) => SignParams),
    input: Uint8Array,
    signature: Uint8Array,
    opts?: Parameters<typeof verify>[6],
  ) => verify(this.core, c, keyId, params, input, signature, opts);
  rsaEncrypt = (c: Caller, keyId: string, plaintext: Uint8Array, params: OaepParams, opts?: { activeOnly?: boolean }) =>
    rsaEncrypt(this.core, c, keyId, plaintext, params, opts);
  rsaDecrypt = (c: Caller, keyId: string, ciphertext: Uint8Array, params: OaepParams, opts?: Parameters<typeof rsaDecrypt>[5]) =>
    rsaDecrypt(this.core, c, keyId, ciphertext, params, opts);
  getPublicKey = (c: Caller, keyId: string, opts?: { version?: number }) => getPublicKey(this.core, c, keyId, opts);
  /** The key's material wrapped (JWE) under an RSA transport key; only for an extractable key. */
  exportWrapped = (c: Caller, keyId: string, input: ExportInput) => exportWrapped(this.core, c, keyId, input);
  /** A new key from material the customer wrapped (JWE) under a transport key held here. */
  importWrapped = (c: Caller, input: WrappedImportInput): Promise<KeyRecord> => importWrapped(this.core, c, input);
  /** Material for a key pending import (import-material.ts): a wrapping key and token, the import, its deletion. */
  importParameters = (c: Caller, keyId: string, hash: byok.ImportWrapHash) => byok.importParameters(this.core, c, keyId, hash);
  importKeyMaterial = (c: Caller, keyId: string, input: byok.MaterialImport) => byok.importKeyMaterial(this.core, c, keyId, input);
  deleteImportedMaterial = (c: Caller, keyId: string) => byok.deleteImportedMaterial(this.core, c, keyId);
  expireImportedMaterial = () => byok.expireImportedMaterial(this.core);
  random = (c: Caller, bytes: number): Promise<Buffer> => random(this.core, c, bytes);

  // ---- Grants (operations/grants.ts) ------------------------------------------------------------

  createGrant = (c: Caller, keyId: string, input: CreateGrantInput): Promise<GrantRecord> => createGrant(this.core, c, keyId, input);
  listGrants = (c: Caller, keyId: string, page: { limit: number; offset: number }) => listGrants(this.core, c, keyId, page);
  listRetirableGrants = (c: Caller, page: { limit: number; offset: number }) => listRetirableGrants(this.core, c, page);
  revokeGrant = (c: Caller, keyId: string, grantId: string): Promise<GrantRecord> => revokeGrant(this.core, c, keyId, grantId);
  retireGrant = (c: Caller, keyId: string, grantId: string): Promise<GrantRecord> => retireGrant(this.core, c, keyId, grantId);

  // ---- Aliases (operations/aliases.ts) ----------------------------------------------------------

  createAlias = (c: Caller, keyId: string, name: string): Promise<AliasRecord> => createAlias(this.core, c, keyId, name);
  associateAlias = (c: Caller, name: string, targetKeyId: string): Promise<AliasRecord> => associateAlias(this.core, c, name, targetKeyId);
  deleteAliases = (c: Caller, keyId: string, names: readonly string[]): Promise<AliasRecord[]> => deleteAliases(this.core, c, keyId, names);
  listAliases = (c: Caller, input: Parameters<typeof listAliases>[2]) => listAliases(this.core, c, input);
  /** The key id an alias (or a key's own alias) stands for; not_found otherwise. */
  resolveAlias = (c: Caller, name: string): Promise<string> => resolveAlias(this.core, c, name);
}
