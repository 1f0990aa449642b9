import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { z } from 'zod';
// The threads module alone: a CLI call that only talks to a running gateway does not load the store.
import { backgroundNice } from '@polykms/core/threads';
import { checkAdminToken } from './admintoken.ts';

export const DIALECTS = ['ovh', 'huawei', 'cse'] as const;
export type Dialect = (typeof DIALECTS)[number];

/** Gateway configuration: a JSON file (POLYKMS_CONFIG), then the environment on top; every knob has a default that works on a laptop. */
export interface GatewayConfig {
  dataDir: string;
  databaseUrl: string | undefined;
  host: string;
  /** Where the admin API and console listen (POLYKMS_HOST unless set). */
  adminHost: string;
  /**
   * HTTPS with the gateway CA (the default). Plain HTTP only on a loopback address: the admin token,
   * Huawei secret keys and OVH credential private keys cross this port.
   */
  adminTls: boolean;
  adminPort: number;
  ovhPort: number;
  huaweiPort: number;
  csePort: number;
  /** Which dialects this process serves (all by default; `polykms serve --dialect ovh` for one). */
  dialects: Dialect[];
  /** Bearer token for the admin port; generated into the data directory when not set. */
  adminToken: string | undefined;
  /** Names the server certificates are issued for. */
  hostnames: string[];
  logLevel: string;
  /** How often keys whose deletion date passed are destroyed. */
  deletionSweepMs: number;
  /** How often keys whose scheduled rotation is due get their new version. */
  rotationSweepMs: number;
  /** Lifetime of Huawei IAM tokens issued by /v3/auth/tokens. */
  huaweiTokenTtlSeconds: number;
  /** The CSE (KACLS) configuration file; without it CSE answers /status and refuses every token. */
  cseConfigFile: string | undefined;
  /** Processes serving the listeners (one event loop each); the cores available by default. */
  workers: number;
}

const MAX_WORKERS = 256;
const portNumber = z.number().int().min(0).max(65535);
/** The file form: the same knobs, in camelCase, all optional. */
const FileSchema = z.strictObject({
  dataDir: z.string().min(1).optional(),
  databaseUrl: z.string().min(1).optional(),
  host: z.string().min(1).optional(),
  adminHost: z.string().min(1).optional(),
  adminTls: z.boolean().optional(),
  ports: z
    .strictObject({
      admin: portNumber.optional(),
      ovh: portNumber.optional(),
      huawei: portNumber.optional(),
      cse: portNumber.optional(),
    })
    .optional(),
  dialects: z.array(z.enum(DIALECTS)).min(1).optional(),
  adminTokenFile: z.string().min(1).optional(),
  hostnames: z.array(z.string().min(1)).min(1).optional(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
  deletionSweepSeconds: z.number().int().min(1).optional(),
  rotationSweepSeconds: z.number().int().min(1).optional(),
  huawei: z
    .strictObject({
      tokenTtlSeconds: z
        .number()
        .int()
        .min(60)
        .max(7 * 86400)
        .optional(),
    })
    .optional(),
  cse: z.strictObject({ configFile: z.string().min(1).optional() }).optional(),
  workers: z.number().int().min(1).max(MAX_WORKERS).optional(),
});
export type ConfigFile = z.infer<typeof FileSchema>;

function port(env: NodeJS.ProcessEnv, name: string, dflt: number): number {
  const v = env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${name} must be a port number (0-65535); got '${v}'`);
  return n;
}

function workerCount(env: NodeJS.ProcessEnv, dflt: number): number {
  const v = env.POLYKMS_WORKERS;
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > MAX_WORKERS)
    throw new Error(`POLYKMS_WORKERS must be a whole number from 1 to ${MAX_WORKERS}; got '${v}'`);
  return n;
}

function onOff(v: string, name: string): boolean {
  if (/^(on|true|1|yes)$/i.test(v)) return true;
  if (/^(off|false|0|no)$/i.test(v)) return false;
  throw new Error(`${name} must be on or off; got '${v}'`);
}

export function parseDialects(v: string, from: string): Dialect[] {
  const list = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = list.filter((d) => !(DIALECTS as readonly string[]).includes(d));
  if (!list.length || bad.length) throw new Error(`${from} must list dialects among ${DIALECTS.join(', ')}; got '${v}'`);
  return [...new Set(list)] as Dialect[];
}

export function readConfigFile(path: string): ConfigFile {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read the configuration file ${path}: ${(e as Error).message}`);
  }
  const r = FileSchema.safeParse(raw);
  if (!r.success)
    throw new Error(`configuration file ${path}: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  return r.data;
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const f: ConfigFile = env.POLYKMS_CONFIG ? readConfigFile(env.POLYKMS_CONFIG) : {};
  const base = env.POLYKMS_CONFIG ? resolve(env.POLYKMS_CONFIG, '..') : process.cwd();
  const ttl = env.POLYKMS_HUAWEI_TOKEN_TTL ? Number(env.POLYKMS_HUAWEI_TOKEN_TTL) : (f.huawei?.tokenTtlSeconds ?? 86400);
  if (!Number.isInteger(ttl) || ttl < 60 || ttl > 7 * 86400)
    throw new Error(`POLYKMS_HUAWEI_TOKEN_TTL must be whole seconds between 60 and 604800; got '${env.POLYKMS_HUAWEI_TOKEN_TTL}'`);
  const tokenFile = env.POLYKMS_ADMIN_TOKEN_FILE || (f.adminTokenFile ? resolve(base, f.adminTokenFile) : undefined);
  let adminTokenFromFile: string | undefined;
  if (!env.POLYKMS_ADMIN_TOKEN && tokenFile) {
    try {
      adminTokenFromFile = readFileSync(tokenFile, 'utf8').trim();
    } catch (e) {
      throw new Error(`cannot read the admin token file ${tokenFile}: ${(e as Error).message}`);
    }
    checkAdminToken(adminTokenFromFile, `the admin token in ${tokenFile}`);
  }
  if (env.POLYKMS_ADMIN_TOKEN) checkAdminToken(env.POLYKMS_ADMIN_TOKEN, 'POLYKMS_ADMIN_TOKEN');
  const adminTls = env.POLYKMS_ADMIN_TLS ? onOff(env.POLYKMS_ADMIN_TLS, 'POLYKMS_ADMIN_TLS') : (f.adminTls ?? true);
  const host = env.POLYKMS_HOST ?? f.host ?? '127.0.0.1';
  // Read by the threads themselves (threads.mjs); a bad value is refused here, at start-up.
  backgroundNice(env);
  const cseFile = env.POLYKMS_CSE_CONFIG || (f.cse?.configFile ? resolve(base, f.cse.configFile) : undefined);
  return {
    dataDir: resolve(env.POLYKMS_DATA_DIR ?? (f.dataDir ? resolve(base, f.dataDir) : './data')),
    databaseUrl: env.DATABASE_URL || f.databaseUrl || undefined,
    host,
    adminHost: env.POLYKMS_ADMIN_HOST || f.adminHost || host,
    adminTls,
    adminPort: port(env, 'POLYKMS_ADMIN_PORT', f.ports?.admin ?? 8440),
    ovhPort: port(env, 'POLYKMS_OVH_PORT', f.ports?.ovh ?? 8443),
    huaweiPort: port(env, 'POLYKMS_HUAWEI_PORT', f.ports?.huawei ?? 8444),
    csePort: port(env, 'POLYKMS_CSE_PORT', f.ports?.cse ?? 8445),
    dialects: env.POLYKMS_DIALECTS ? parseDialects(env.POLYKMS_DIALECTS, 'POLYKMS_DIALECTS') : (f.dialects ?? [...DIALECTS]),
    adminToken: env.POLYKMS_ADMIN_TOKEN || adminTokenFromFile || undefined,
    hostnames: (env.POLYKMS_HOSTNAMES ? env.POLYKMS_HOSTNAMES.split(',') : (f.hostnames ?? ['localhost']))
      .map((s) => s.trim())
      .filter(Boolean),
    logLevel: env.POLYKMS_LOG_LEVEL ?? f.logLevel ?? 'info',
    deletionSweepMs: (f.deletionSweepSeconds ?? 60) * 1000,
    rotationSweepMs: (f.rotationSweepSeconds ?? 60) * 1000,
    huaweiTokenTtlSeconds: ttl,
    cseConfigFile: cseFile,
    workers: workerCount(env, f.workers ?? availableParallelism()),
  };
}
