import { serve, type ServerType } from '@hono/node-server';
import { Kms } from '@polykms/core';
import { pino, type Logger } from 'pino';
import { adminApp } from './admin.ts';
import type { GatewayConfig } from './config.ts';

export interface Gateway {
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
  const admin = await listen(adminApp(kms), cfg.host, cfg.adminPort).catch(async (e) => {
    await kms.close();
    throw e;
  });
  const sweep = setInterval(() => void kms.destroyDueKeys().catch((e) => log.error({ err: e }, 'deletion sweep failed')), cfg.deletionSweepMs);
  sweep.unref();
  const urls = { admin: `http://${cfg.host}:${admin.port}` };
  return {
    kms,
    log,
    urls,
    async close() {
      clearInterval(sweep);
      await new Promise<void>((r) => admin.server.close(() => r()));
      await kms.close();
    },
  };
}
