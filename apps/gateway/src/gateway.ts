import { serve, type ServerType } from '@hono/node-server';
import { Kms } from '@polykms/core';
import { Metrics, type HttpsServer } from '@polykms/http';
import { pino, type Logger } from 'pino';
import { gatewayCa, type Ca } from '@polykms/pki';
import { startOvhServer } from '@polykms/ovh';
import { startHuaweiServer } from '@polykms/huawei';
import { loadCseConfig, startCseServer } from '@polykms/cse';
import { adminApp } from './admin.ts';
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

type Starter = (kms: Kms, ca: Ca, cfg: GatewayConfig, obs: { log: Logger; metrics: Metrics }) => Promise<HttpsServer>;

/** How each dialect starts; a dialect not in `cfg.dialects` is not started at all. */
const STARTERS: Record<Dialect, Starter | undefined> = {
  ovh: (kms, ca, cfg, obs) => startOvhServer(kms, ca, { host: cfg.host, port: cfg.ovhPort, hostnames: cfg.hostnames, ...obs }),
  huawei: (kms, ca, cfg, obs) => startHuaweiServer(kms, ca, { host: cfg.host, port: cfg.huaweiPort, hostnames: cfg.hostnames, tokenTtlSeconds: cfg.huaweiTokenTtlSeconds, ...obs }),
  cse: async (kms, ca, cfg, obs) => startCseServer(kms, ca, { host: cfg.host, port: cfg.csePort, hostnames: cfg.hostnames, config: await loadCseConfig(cfg.cseConfigFile), ...obs }),
};

/** Opens the key store and starts every listener; `close()` drains them (in-flight requests finish) and then the store. */
export async function startGateway(cfg: GatewayConfig, log: Logger = pino({ level: cfg.logLevel })): Promise<Gateway> {
  const kms = await Kms.open({ databaseUrl: cfg.databaseUrl, dataDir: cfg.dataDir, logger: log, rootKeys: { dataDir: cfg.dataDir } });
  const adminToken = loadAdminToken(cfg.dataDir, cfg.adminToken);
  if (adminToken.generated) log.warn({ file: adminToken.file }, `no POLYKMS_ADMIN_TOKEN: generated an admin token in ${adminToken.file}`);
  const metrics = new Metrics({ keyCache: () => ({ hits: kms.cache.hits, misses: kms.cache.misses, size: kms.cache.size }), authFailures: () => kms.authFailures.counts });
  const servers: Partial<Record<Dialect, HttpsServer>> = {};
  let admin: Awaited<ReturnType<typeof listen>> | undefined;
  try {
    const ca = await gatewayCa(kms);
    for (const d of cfg.dialects) {
      const start = STARTERS[d];
      if (!start) throw new Error(`the ${d} dialect is not available in this build`);
      servers[d] = await start(kms, ca, cfg, { log, metrics });
    }
    admin = await listen(adminApp(kms, { adminToken: adminToken.token, ovhUrl: servers.ovh?.url ?? '', metrics }), cfg.host, cfg.adminPort);
  } catch (e) {
    await Promise.all(Object.values(servers).map((s) => s.close()));
    await kms.close();
    throw e;
  }
  const sweep = setInterval(() => void kms.destroyDueKeys().catch((e) => log.error({ err: e }, 'deletion sweep failed')), cfg.deletionSweepMs);
  sweep.unref();
  const urls: Gateway['urls'] = { admin: `http://${cfg.host}:${admin.port}` };
  for (const [d, s] of Object.entries(servers)) urls[d as Dialect] = s.url;
  return {
    adminToken,
    kms,
    log,
    metrics,
    urls,
    async close() {
      clearInterval(sweep);
      await Promise.all([new Promise<void>((r) => admin!.server.close(() => r())), ...Object.values(servers).map((s) => s.close())]);
      await kms.close();
    },
  };
}
