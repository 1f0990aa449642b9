import { randomBytes, randomInt, scrypt, timingSafeEqual } from 'node:crypto';
import type { Action, Kms } from '@polykms/core';
import { huaweiDb } from './store.ts';

/**
 * Huawei IAM as polykms keeps it: users belong to an account (domain) and hold roles per project.
 * Passwords are scrypt hashes; access-key secrets are sealed under the root key (kms.putSecret),
 * because checking an HMAC signature needs the secret itself.
 */
export const IAM_TOPIC = 'huawei.iam';
/** Published with a token id when a token is revoked, so every process stops taking it at once. */
export const REVOKED_TOPIC = 'huawei.token.revoked';

/** System roles and policies (Huawei DEW's names) -> the core actions they allow. */
const READ: Action[] = ['key.get', 'key.list', 'key.get_public_key', 'key.list_grants'];
const ALL: Action[] = [
  'key.create',
  'key.import',
  'key.get',
  'key.list',
  'key.update',
  'key.activate',
  'key.deactivate',
  'key.schedule_deletion',
  'key.cancel_deletion',
  'key.destroy',
  'key.rotate',
  'key.encrypt',
  'key.decrypt',
  'key.generate_data_key',
  'key.sign',
  'key.verify',
  'key.get_public_key',
  'key.create_grant',
  'key.list_grants',
  'key.revoke_grant',
  'key.retire_grant',
  'key.derive_shared_secret',
  'key.delete_material',
  'random',
];
export const ROLES: Record<string, readonly Action[]> = {
  'KMS Administrator': ALL,
  'KMS CMKFullAccess': ALL,
  'Tenant Administrator': ALL,
  'KMS CMKReadOnlyAccess': READ,
  'Tenant Guest': READ,
};
export const READ_ONLY_ROLES = ['KMS CMKReadOnlyAccess', 'Tenant Guest'];

export const roleAllows = (roles: readonly string[], action: Action) => roles.some((r) => ROLES[r]?.includes(action));

export interface ProjectRoles {
  id: string;
  name: string;
  roles: string[];
}

export interface HuaweiUser {
  id: string;
  domainId: string;
  domainName: string;
  name: string;
  passwordHash: string;
  projects: ProjectRoles[];
  enabled: boolean;
  createdAt: Date;
  updatedAt: Date;
  /** Raised by a password change or a disable; a token issued under another epoch is refused. */
  tokenEpoch: number;
}

type UserRow = {
  id: string;
  domain_id: string;
  domain_name: string;
  name: string;
  password_hash: string;
  projects: unknown;
  enabled: boolean;
  created_at: Date;
  updated_at: Date;
  token_epoch: number;
};

export const toUser = (r: UserRow): HuaweiUser => ({
  id: r.id,
  domainId: r.domain_id,
  domainName: r.domain_name,
  name: r.name,
  passwordHash: r.password_hash,
  projects: (typeof r.projects === 'string' ? JSON.parse(r.projects) : r.projects) as ProjectRoles[],
  enabled: r.enabled,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  tokenEpoch: r.token_epoch,
});

/** Ids shaped like Huawei's: 32 lower-case hex characters. */
export const newId = () => randomBytes(16).toString('hex');

const AK_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const SK_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const pick = (alphabet: string, n: number) => Array.from({ length: n }, () => alphabet[randomInt(alphabet.length)]).join('');
/** AK: 20 upper-case letters and digits; SK: 40 letters and digits (Huawei's shapes). */
export const newAccessKey = () => ({ access: pick(AK_ALPHABET, 20), secret: pick(SK_ALPHABET, 40) });
export const secretId = (access: string) => `huawei.ak:${access}`;

const SCRYPT = { N: 16384, r: 8, p: 1, keylen: 32 };
const scryptAsync = (pw: string, salt: Buffer, n: number, r: number, p: number, len: number) =>
  new Promise<Buffer>((res, rej) => scrypt(pw, salt, len, { N: n, r, p, maxmem: 64 * 1024 * 1024 }, (e, k) => (e ? rej(e) : res(k))));

export async function hashPassword(pw: string): Promise<string> {
  const salt = randomBytes(16);
  const k = await scryptAsync(pw, salt, SCRYPT.N, SCRYPT.r, SCRYPT.p, SCRYPT.keylen);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${k.toString('base64')}`;
}

/** A stand-in hash so an unknown user name costs the same time as a wrong password. */
const DUMMY = `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${randomBytes(16).toString('base64')}$${randomBytes(32).toString('base64')}`;

export async function checkPassword(pw: string, stored: string | undefined): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = (stored ?? DUMMY).split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const want = Buffer.from(hash, 'base64');
  const got = await scryptAsync(pw, Buffer.from(salt, 'base64'), Number(n), Number(r), Number(p), want.length);
  return timingSafeEqual(got, want) && stored !== undefined;
}

export async function findUserById(kms: Kms, id: string): Promise<HuaweiUser | undefined> {
  const r = await (await huaweiDb(kms)).selectFrom('huawei_users').selectAll().where('id', '=', id).executeTakeFirst();
  return r ? toUser(r) : undefined;
}

export async function findUserByName(kms: Kms, domainName: string, name: string): Promise<HuaweiUser | undefined> {
  const r = await (await huaweiDb(kms))
    .selectFrom('huawei_users')
    .selectAll()
    .where('domain_name', '=', domainName)
    .where('name', '=', name)
    .executeTakeFirst();
  return r ? toUser(r) : undefined;
}

/** The user behind an access key and the key's secret; undefined for an unknown or disabled AK. */
export async function findAccessKey(kms: Kms, access: string): Promise<{ user: HuaweiUser; secret: Buffer } | undefined> {
  const r = await (await huaweiDb(kms))
    .selectFrom('huawei_access_keys as k')
    .innerJoin('huawei_users as u', 'u.id', 'k.user_id')
    .selectAll('u')
    .select(['k.status'])
    .where('k.access', '=', access)
    .executeTakeFirst();
  if (!r || r.status !== 'active') return undefined;
  const secret = await kms.secrets.get(secretId(access));
  return secret ? { user: toUser(r), secret } : undefined;
}
