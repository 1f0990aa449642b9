import cluster from 'node:cluster';
import { workerJournal } from '@polykms/core';
import { pino } from 'pino';
import { configFromEnv } from './config.ts';
import { startGateway } from './gateway.ts';
import { watchLauncher } from './launcher.ts';
import { announce } from './announce.ts';

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
    // A worker reaches the embedded database through the primary, which owns it and stores the worker's audit journal.
    const shared =
      worker && !cfg.databaseUrl
        ? { storePeer: process as never, auditJournal: workerJournal(Number(process.env.POLYKMS_WORKER_SLOT)) }
        : {};
    const gw = await startGateway(cfg, log, shared);
    const ready = { urls: gw.urls, storage: gw.kms.driver, adminTokenFile: gw.adminToken.file };
    // A worker tells the primary, which says it once for all; a lone process says it itself.
    if (worker) {
      log.info('worker listening');
      process.send?.({ polykmsReady: ready });
    } else announce(cfg, log, ready);
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
