import { pino } from 'pino';
import { configFromEnv } from './config.ts';
import { startGateway } from './gateway.ts';

const cfg = configFromEnv();
const log = pino({ level: cfg.logLevel });
try {
  const gw = await startGateway(cfg, log);
  log.info({ urls: gw.urls, storage: gw.kms.store.driver, dataDir: cfg.databaseUrl ? undefined : cfg.dataDir }, `polykms listening: OVH KMS ${gw.urls.ovh} (mTLS), admin ${gw.urls.admin}`);
  log.info(
    { adminTokenFile: gw.adminToken.file },
    `first OVH credential: pnpm polykms ovh domain create --region eu-west-rbx, then pnpm polykms ovh credential create --domain <id> --identity urn:v1:eu:identity:account:<nic> --out ./client (writes client.cert, client.key, ca.pem)`,
  );
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
