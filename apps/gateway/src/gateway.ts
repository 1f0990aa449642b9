import { renameSync, writeFileSync, mkdirSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { Kms, type StorePeer } from '@polykms/core';
import { Metrics, serveHttps, type HttpsServer } from '@polykms/http';
import { pino, type Logger } from 'pino';
import { gatewayCa, type Ca } from '@polykms/pki';
import { startOvhServer } from '@polykms/ovh';
import { startHuaweiServer } from '@polykms/huawei';
import { loadCseConfig, startCseServer, type CseConfig } from '@polykms/cse';
import { adminApp } from './admin/index.ts';
import { loadAdminToken } from './admintoken.ts';
import type { Dialect, GatewayConfig } from './config.ts';

export interface Gateway {
  adminToken: { token: string; file?: string | undefined };
  kms: Kms;
  log: Logger;
  metrics: Metrics;
  urls: Partial<Record<Dialect | 'admin', string>>;
  close(): Promise<void>;
}

const listen = (app: { fetch: (r: Request) => Response | Promise<Response> }, host: string, port: number) =>
  new Promise<{ server: ServerType; port: number }>((res, rej) => {
    const server = serve({ fetch: app.fetch, hostname: host, port }, (info) => res({ server, port: info.port }));
    server.once('error', rej);
  });

/** A loopback address: 127.0.0.0/8, ::1 (or IPv4-mapped loopback), or the name localhost. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || /^::ffff:127\./.test(h) || /^(0{1,4}:){7}0{0,3}1$/.test(h);
  return false;
}

/** The admin plane carries the admin token and secrets: plain HTTP is refused anywhere but loopback. */
export function checkAdminListener(cfg: Pick<GatewayConfig, 'adminHost' | 'adminTls'>) {
  if (!cfg.adminTls && !isLoopback(cfg.adminHost))
    throw new Error(
      `the admin API would listen in plain HTTP on ${cfg.adminHost}: it carries the admin token and key material, so plain HTTP is only allowed on a loopback address (set POLYKMS_ADMIN_HOST=127.0.0.1, or leave POLYKMS_ADMIN_TLS on)`,
    );
}

/**
 * The gateway CA's certificate in the data directory (ca.pem), for the CLI and the container's health
 * check to verify the admin listener; public, replaced atomically since several processes may share it.
 */
function writeCaFile(dataDir: string, pem: string, log: Logger) {
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const tmp = join(dataDir, `.ca.pem.${process.pid}`);
    writeFileSync(tmp, pem, { mode: 0o644 });
    renameSync(tmp, join(dataDir, 'ca.pem'));
  } catch (e) {
    log.warn({ err: e, dataDir }, `cannot write the gateway CA to ${dataDir}/ca.pem: the CLI will need POLYKMS_ADMIN_CA_FILE`);
  }
}

type Starter = (kms: Kms, ca: Ca, cfg: GatewayConfig, obs: { log: Logger; metrics: Metrics }, cse?: CseConfig) => Promise<HttpsServer>;

/** How each dialect starts; a dialect not in `cfg.dialects` is not started at all. */
const STARTERS: Record<Dialect, Starter | undefined> = {
  ovh: (kms, ca, cfg, obs) => startOvhServer(kms, ca, { host: cfg.host, port: cfg.ovhPort, hostnames: cfg.hostnames, ...obs }),
  huawei: (kms, ca, cfg, obs) =>
    startHuaweiServer(kms, ca, {
      host: cfg.host,
      port: cfg.huaweiPort,
      hostnames: cfg.hostnames,
      tokenTtlSeconds: cfg.huaweiTokenTtlSeconds,
      ...obs,
    }),
  cse: async (kms, ca, cfg, obs, cse) =>
    startCseServer(kms, ca, {
      host: cfg.host,
      port: cfg.csePort,
      hostnames: cfg.hostnames,
      config: cse ?? (await loadCseConfig(cfg.cseConfigFile)),
      ...obs,
    }),
};

/**
 * A worker of `serve --workers` on the embedded store: the primary's end of the store, and the name of
 * the worker's own audit journal. Both or neither: without its name a worker would journal into the
 * primary's directory.
 */
export interface WorkerStore {
  storePeer: StorePeer;
  auditJournal: string;
}

/** Opens the key store and starts every listener; `close()` drains them (in-flight requests finish) and then the store. */
export async function startGateway(
  cfg: GatewayConfig,
  log: Logger = pino({ level: cfg.logLevel }),
  opts: { storePeer?: undefined; auditJournal?: undefined } | WorkerStore = {},
): Promise<Gateway> {
  checkAdminListener(cfg);
  const kms = await Kms.open({
    databaseUrl: cfg.databaseUrl,
    dataDir: cfg.dataDir,
    sharedPglite: opts.storePeer,
    auditTo: opts.storePeer ? { peer: opts.storePeer, journal: opts.auditJournal } : undefined,
    logger: log,
    rootKeys: { dataDir: cfg.dataDir },
    serving: true,
  });
  const adminToken = loadAdminToken(cfg.dataDir, cfg.adminToken);
  if (adminToken.generated) log.warn({ file: adminToken.file }, `no POLYKMS_ADMIN_TOKEN: generated an admin token in ${adminToken.file}`);
  const metrics = new Metrics({
    keyCache: () => ({ hits: kms.cache.hits, misses: kms.cache.misses, size: kms.cache.size }),
    authFailures: () => kms.authFailures.counts,
  });
  const servers: Partial<Record<Dialect, HttpsServer>> = {};
  let admin: { port: number; url: string; close(): Promise<void> } | undefined;
  try {
    const ca = await gatewayCa(kms);
    // Read once, for the KACLS and for the console's summary of it.
    const cse = cfg.dialects.includes('cse') ? await loadCseConfig(cfg.cseConfigFile) : undefined;
    for (const d of cfg.dialects) {
      const start = STARTERS[d];
      if (!start) throw new Error(`the ${d} dialect is not available in this build`);
      servers[d] = await start(kms, ca, cfg, { log, metrics }, cse);
    }
    const app = adminApp(kms, { adminToken: adminToken.token, ovhUrl: servers.ovh?.url ?? '', metrics, cse });
    if (cfg.adminTls) {
      writeCaFile(cfg.dataDir, ca.certPem, log);
      admin = await serveHttps(app.fetch, ca, { host: cfg.adminHost, port: cfg.adminPort, hostnames: cfg.hostnames });
    } else {
      const plain = await listen(app, cfg.adminHost, cfg.adminPort);
      const h = isIP(cfg.adminHost) === 6 ? `[${cfg.adminHost}]` : cfg.adminHost;
      admin = {
        port: plain.port,
        url: `http://${h}:${plain.port}`,
        close: () => new Promise<void>((r) => plain.server.close(() => r())),
      };
    }
  } catch (e) {
    await Promise.all(Object.values(servers).map((s) => s.close()));
    await kms.close();
    throw e;
  }
  const sweep = setInterval(() => {
    void kms.destroyDueKeys().catch((e) => log.error({ err: e }, 'deletion sweep failed'));
    // Imported material past its expiration time is deleted the same way: the key is pending import again.
    void kms.expireImportedMaterial().catch((e) => log.error({ err: e }, 'material expiry sweep failed'));
  }, cfg.deletionSweepMs);
  sweep.unref();
  // Every process sweeps; the database makes sure each due key rotates once (kms.close() stops it).
  kms.rotations.start(cfg.rotationSweepMs);
  const urls: Gateway['urls'] = { admin: admin.url };
  for (const [d, s] of Object.entries(servers)) urls[d as Dialect] = s.url;
  return {
    adminToken,
    kms,
    log,
    metrics,
    urls,
    async close() {
      clearInterval(sweep);
      await Promise.all([admin!.close(), ...Object.values(servers).map((s) => s.close())]);
      await kms.close();
    },
  };
}
