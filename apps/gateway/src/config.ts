import { resolve } from 'node:path';

/** Gateway configuration from the environment; every knob has a default that works on a laptop. */
export interface GatewayConfig {
  dataDir: string;
  databaseUrl: string | undefined;
  host: string;
  adminPort: number;
  ovhPort: number;
  /** Bearer token for the admin port; generated into the data directory when not set. */
  adminToken: string | undefined;
  /** Names the server certificates are issued for. */
  hostnames: string[];
  logLevel: string;
  /** How often keys whose deletion date passed are destroyed. */
  deletionSweepMs: number;
}

function port(env: NodeJS.ProcessEnv, name: string, dflt: number): number {
  const v = env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${name} must be a port number (0-65535); got '${v}'`);
  return n;
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  return {
    dataDir: resolve(env.POLYKMS_DATA_DIR ?? './data'),
    databaseUrl: env.DATABASE_URL || undefined,
    host: env.POLYKMS_HOST ?? '127.0.0.1',
    adminPort: port(env, 'POLYKMS_ADMIN_PORT', 8440),
    ovhPort: port(env, 'POLYKMS_OVH_PORT', 8443),
    adminToken: env.POLYKMS_ADMIN_TOKEN || undefined,
    hostnames: (env.POLYKMS_HOSTNAMES ?? 'localhost').split(',').map((s) => s.trim()).filter(Boolean),
    logLevel: env.POLYKMS_LOG_LEVEL ?? 'info',
    deletionSweepMs: 60_000,
  };
}
