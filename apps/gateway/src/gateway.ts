import { serve, type ServerType } from '@hono/node-server';
import { Kms } from '@polykms/core';
import { pino, type Logger } from 'pino';
import { gatewayCa } from '@polykms/pki';
import { startOvhServer } from '@polykms/ovh';
import { adminApp } from './admin.ts';
import { loadAdminToken } from './admintoken.ts';
import type { GatewayConfig } from './config.ts';

export interface Gateway {
  adminToken: { token: string; file?: string | undefined };
  kms: Kms;
  log: Logger;
  urls: Record<string, string>;
  close(): Promise<void>;
}

const listen = (app: { fetch: (r: Request) => Response | Promise<Response> }, host: string, port: number) =>
  new Promise<{ server: ServerType; port: number }>((res, rej) => {
    const server = serve({ fetch: app.fetch, hostname: host, port }, (info) => res({ server, port: info.port }));
    server.once('error', rej);
  });

/** Opens the key store and starts every listener; `close()` drains them and then the store. */
export async function startGateway(cfg: GatewayConfig, log: Logger = pino({ level: cfg.logLevel })): Promise<Gateway> {
  const kms = await Kms.open({ databaseUrl: cfg.databaseUrl, dataDir: cfg.dataDir, logger: log, rootKeys: { dataDir: cfg.dataDir } });
  const adminToken = loadAdminToken(cfg.dataDir, cfg.adminToken);
  if (adminToken.generated) log.warn({ file: adminToken.file }, `no POLYKMS_ADMIN_TOKEN: generated an admin token in ${adminToken.file}`);
  let ovh: Awaited<ReturnType<typeof startOvhServer>> | undefined;
  let admin: Awaited<ReturnType<typeof listen>> | undefined;
  try {
    ovh = await startOvhServer(kms, await gatewayCa(kms), { host: cfg.host, port: cfg.ovhPort, hostnames: cfg.hostnames });
    admin = await listen(adminApp(kms, { adminToken: adminToken.token, ovhUrl: ovh.url }), cfg.host, cfg.adminPort);
  } catch (e) {
    await ovh?.close();
    await kms.close();
    throw e;
  }
  const sweep = setInterval(() => void kms.destroyDueKeys().catch((e) => log.error({ err: e }, 'deletion sweep failed')), cfg.deletionSweepMs);
  sweep.unref();
  const urls = { admin: `http://${cfg.host}:${admin.port}`, ovh: ovh.url };
  return {
    adminToken,
    kms,
    log,
    urls,
    async close() {
      clearInterval(sweep);
      await Promise.all([new Promise<void>((r) => admin!.server.close(() => r())), ovh!.close()]);
      await kms.close();
    },
  };
}
