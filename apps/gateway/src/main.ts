import { pino } from 'pino';
import { configFromEnv } from './config.ts';
import { startGateway } from './gateway.ts';

const cfg = configFromEnv();
const log = pino({ level: cfg.logLevel });
try {
  const gw = await startGateway(cfg, log);
  log.info({ urls: gw.urls, storage: gw.kms.store.driver, dataDir: cfg.databaseUrl ? undefined : cfg.dataDir }, `polykms listening: admin ${gw.urls.admin} (healthz, readyz)`);
  let stopping = false;
  const stop = (sig: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal: sig }, 'shutting down: finishing in-flight requests');
    gw.close().then(
      () => process.exit(0),
      (e) => {
        log.error({ err: e }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
} catch (e) {
  log.fatal({ err: e }, `polykms failed to start: ${(e as Error).message}`);
  process.exit(1);
}
