import cluster from 'node:cluster';
import { pino } from 'pino';
import { configFromEnv } from './config.ts';
import { startGateway } from './gateway.ts';
import { watchLauncher } from './launcher.ts';

const cfg = configFromEnv();
// Written synchronously: an audit line is logged before its operation is answered, and pino's default
// (an asynchronous stream) loses what it still holds when the process is killed.
const root = pino({ level: cfg.logLevel }, pino.destination({ fd: 1, sync: true }));
const worker = cluster.worker;
const log = worker ? root.child({ worker: worker.id }) : root;
if (!worker && cfg.workers > 1) await (await import('./cluster.ts')).runPrimary(cfg, root);
else await serveHere();

/** This process serves the listeners: the only one, or a worker of `--workers`. */
async function serveHere() {
  try {
    // A worker reaches the embedded database through the primary, which owns it.
    const gw = await startGateway(cfg, log, worker && !cfg.databaseUrl ? { storePeer: process as never } : {});
    process.send?.({ polykmsReady: true });
    const where = Object.entries(gw.urls)
      .map(([d, u]) => `${d} ${u}`)
      .join(', ');
    log.info({ urls: gw.urls, storage: gw.kms.driver, dataDir: cfg.databaseUrl ? undefined : cfg.dataDir }, `polykms listening: ${where}`);
    // Once, not once per worker.
    if (gw.adminToken.file && (worker?.id ?? 1) === 1)
      log.info(
        { adminTokenFile: gw.adminToken.file },
        `admin API and console: ${gw.urls.admin}/console/ with the token in ${gw.adminToken.file}`,
      );
    if (gw.urls.ovh && (worker?.id ?? 1) === 1)
      log.info(
        'first OVH credential: pnpm polykms ovh domain create --region eu-west-rbx, then pnpm polykms ovh credential create --domain <id> --identity urn:v1:eu:identity:account:<nic> --out data/client (writes data/client.cert, data/client.key, data/client.ca.pem)',
      );
    if (gw.urls.huawei && (worker?.id ?? 1) === 1)
      log.info(
        `first Huawei user: pnpm polykms huawei user create --domain <account> --name <user> --password <pw> --project <32-hex project id>:"KMS Administrator", then POST ${gw.urls.huawei}/v3/auth/tokens (IAM endpoint = KMS endpoint) or pnpm polykms huawei access-key create --user <id>`,
      );
    if (gw.urls.cse && (worker?.id ?? 1) === 1)
      log.info(
        cfg.cseConfigFile
          ? `Google CSE KACLS at ${gw.urls.cse}/v1 with ${cfg.cseConfigFile}; put a publicly trusted TLS front in front of it for Workspace`
          : `Google CSE KACLS at ${gw.urls.cse}/v1 answers /status only: create a configuration with pnpm polykms cse config init --config cse.json --kacls-url https://<public name>/v1 (then add-idp, add-issuer) and start with POLYKMS_CSE_CONFIG=cse.json`,
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
    // A worker's primary watches the launcher and relays signals; a worker whose primary is gone stops.
    if (worker) process.on('disconnect', () => stop('primary exited'));
    else
      watchLauncher((pid) => {
        log.info({ pid }, 'the command that started the gateway exited');
        stop('launcher exited');
      });
  } catch (e) {
    log.fatal({ err: e }, `polykms failed to start: ${(e as Error).message}`);
    process.exit(1);
  }
}
