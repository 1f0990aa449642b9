import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { KmsError } from './errors.ts';

/**
 * The root key envelope: every key version's material is AES-256-GCM ciphertext under a root key, with
 * the tenant, key id and version as associated data, so a row copied onto another key does not open.
 */
export interface RootKey {
  readonly id: string;
  readonly checkValue: string;
  readonly secret: Buffer;
}

export interface Keyring {
  /** Wraps every new version; rotation moves every row to it. */
  readonly current: RootKey;
  readonly byId: ReadonlyMap<string, RootKey>;
}

const IV_BYTES = 12;
const TAG_BYTES = 16;

export function rootKeyFromBytes(secret: Buffer): RootKey {
  if (secret.length !== 32) throw new KmsError('invalid_argument', `a root key is 32 bytes (AES-256); got ${secret.length}`);
  const id = `rk_${createHmac('sha256', secret).update('polykms root key id v1').digest('hex').slice(0, 16)}`;
  const checkValue = createHmac('sha256', secret).update('polykms root key check v1').digest('base64');
  return { id, checkValue, secret: Buffer.from(secret) };
}

export function parseRootKey(text: string, source: string): RootKey {
  const t = text.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(t)) throw new KmsError('invalid_argument', `${source}: a root key is 32 bytes in base64`);
  const bytes = Buffer.from(t.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (bytes.length !== 32)
    throw new KmsError('invalid_argument', `${source}: a root key is 32 bytes in base64; this decodes to ${bytes.length} bytes`);
  return rootKeyFromBytes(bytes);
}

export function makeKeyring(current: RootKey, previous: RootKey[] = []): Keyring {
  const byId = new Map<string, RootKey>();
  for (const k of previous) byId.set(k.id, k);
  byId.set(current.id, current);
  return { current, byId };
}

export interface RootKeyConfig {
  /** POLYKMS_ROOT_KEY: base64 of 32 bytes. */
  rootKey?: string | undefined;
  /** POLYKMS_ROOT_KEY_FILE: a file holding the base64 root key. */
  rootKeyFile?: string | undefined;
  /** POLYKMS_ROOT_KEYS_PREVIOUS: comma-separated base64 root keys still needed to open rows not yet rotated. */
  previousRootKeys?: string | undefined;
  dataDir?: string | undefined;
  warn?: (msg: string, extra?: Record<string, unknown>) => void;
}

export const rootKeyConfigFromEnv = (env: NodeJS.ProcessEnv = process.env): RootKeyConfig => ({
  rootKey: env.POLYKMS_ROOT_KEY,
  rootKeyFile: env.POLYKMS_ROOT_KEY_FILE,
  previousRootKeys: env.POLYKMS_ROOT_KEYS_PREVIOUS,
  dataDir: env.POLYKMS_DATA_DIR ?? './data',
});

/** Loads the keyring from env or file; with neither, a development key is generated in the data directory. */
export function loadKeyring(cfg: RootKeyConfig): Keyring {
  let current: RootKey;
  if (cfg.rootKey) {
    current = parseRootKey(cfg.rootKey, 'POLYKMS_ROOT_KEY');
  } else if (cfg.rootKeyFile) {
    current = parseRootKey(readFileSync(cfg.rootKeyFile, 'utf8'), cfg.rootKeyFile);
  } else {
    const dir = resolve(cfg.dataDir ?? './data');
    const file = join(dir, 'root.key');
    if (existsSync(file)) {
      const mode = statSync(file).mode & 0o777;
      if (mode & 0o077) chmodSync(file, 0o600);
      current = parseRootKey(readFileSync(file, 'utf8'), file);
    } else {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      writeFileSync(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
      current = parseRootKey(readFileSync(file, 'utf8'), file);
      cfg.warn?.(
        `no POLYKMS_ROOT_KEY or POLYKMS_ROOT_KEY_FILE: generated a development root key in ${file}; keep it with the database, and set a real one for production`,
        { file },
      );
    }
  }
  const previous = (cfg.previousRootKeys ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s, i) => parseRootKey(s, `POLYKMS_ROOT_KEYS_PREVIOUS[${i}]`));
  return makeKeyring(current, previous);
}

/** Associated data binding a wrapped material to its place: moving the row elsewhere breaks the tag. */
export const materialAad = (tenantId: string, keyId: string, version: number) =>
  Buffer.from(`polykms/material/v1\0${tenantId}\0${keyId}\0${version}`, 'utf8');

export const secretAad = (id: string) => Buffer.from(`polykms/secret/v1\0${id}`, 'utf8');

export function sealMaterial(root: RootKey, plaintext: Uint8Array, aad: Buffer): Buffer {
  const iv = randomBytes(IV_BYTES);
  const c = createCipheriv('aes-256-gcm', root.secret, iv);
  c.setAAD(aad);
  const ct = Buffer.concat([c.update(plaintext), c.final()]);
  return Buffer.concat([iv, c.getAuthTag(), ct]);
}

export function openMaterial(keyring: Keyring, rootKeyId: string, sealed: Uint8Array, aad: Buffer): Buffer {
  const root = keyring.byId.get(rootKeyId);
  if (!root) throw new KmsError('unavailable', 'the root key that protects this key is not configured', 'root_key_missing');
  const buf = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  if (buf.length < IV_BYTES + TAG_BYTES) throw new KmsError('internal', 'stored key material is corrupt', 'material_corrupt');
  const d = createDecipheriv('aes-256-gcm', root.secret, buf.subarray(0, IV_BYTES));
  d.setAAD(aad);
  d.setAuthTag(buf.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  try {
    return Buffer.concat([d.update(buf.subarray(IV_BYTES + TAG_BYTES)), d.final()]);
  } catch {
    throw new KmsError('internal', 'stored key material does not authenticate', 'material_corrupt');
  }
}
