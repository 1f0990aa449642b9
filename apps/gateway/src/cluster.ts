import cluster, { type Worker } from 'node:cluster';
import {
  Kms,
  loadKeyring,
  localChannel,
  openStore,
  replayWorkerJournal,
  rootKeyConfigFromEnv,
  serveWorkerJournal,
  shareEmbeddedStore,
  workerJournal,
} from '@polykms/core';
import type { Logger } from 'pino';
import { loadAdminToken } from './admintoken.ts';
import type { GatewayConfig } from './config.ts';
import { watchLauncher } from './launcher.ts';
import { announce, type Ready } from './announce.ts';

/**
 * `serve --workers N`: one Node process is one event loop, so N worker processes serve the same
 * listeners (node:cluster hands each new connection to the next worker). The primary does what the
 * workers would race on (the development root key and admin token files, the schema), owns the
 * embedded database when there is no DATABASE_URL (the workers reach it through IPC, and it stores
 * their audit journals, that of a worker that died before another takes its slot), replaces a worker
 * that dies, and on SIGTERM or SIGINT lets every worker drain before it exits.
 */
export async function runPrimary(cfg: GatewayConfig, log: Logger): Promise<void> {
  loadKeyring({ ...rootKeyConfigFromEnv(), dataDir: cfg.dataDir, warn: (m, x) => log.warn(x ?? {}, m) });
  const token = loadAdminToken(cfg.dataDir, cfg.adminToken);
  if (token.generated) log.warn({ file: token.file }, `no POLYKMS_ADMIN_TOKEN: generated an admin token in ${token.file}`);
  const shared = cfg.databaseUrl
    ? undefined
    : await shareEmbeddedStore({ dataDir: cfg.dataDir }, (w) => {
        // It did not drop a changed key from its caches in time: it must not answer with the old state.
        log.error({ worker: (w as Worker).id }, 'a worker did not apply a key change in time; stopping it');
        (w as Worker).process.kill('SIGKILL');
      });
  if (cfg.databaseUrl) await (await openStore({ databaseUrl: cfg.databaseUrl, poolSize: 1 })).close();
  // On the embedded store the primary stores every worker's journal (a change's event goes in the change's transaction).
  let kms: Kms | undefined;
  if (shared) {
    const [brokerEnd, ownEnd] = localChannel();
    shared.attach(brokerEnd);
    // Opening it stores what the workers of the last run answered and did not, whatever their number was then.
    kms = await Kms.open({ sharedPglite: ownEnd, dataDir: cfg.dataDir, logger: log, rootKeys: { dataDir: cfg.dataDir } });
  }
  /** A slot's journal is stored before another worker takes the slot (it did not store it all if it died). */
  const replay = async (slot: number) => {
    if (!kms) return;
    await replayWorkerJournal(kms.audit, cfg.dataDir, workerJournal(slot)).catch((e: Error) =>
      // Kept: the next worker in the slot sends it again at its start, or the next start stores it.
      log.error({ slot, err: e.message }, 'could not store the audit journal of a stopped worker yet'),
    );
  };

  // Bytes (bytea columns, parameters) cross the IPC channel as they are.
  cluster.setupPrimary({ serialization: 'advanced' });
  let stopping = false;
  let started = 0;
  let announced = false;
  const workers = new Set<Worker>();
  const fork = (slot: number) => {
    const w = cluster.fork({ POLYKMS_WORKER_SLOT: String(slot) });
    workers.add(w);
    shared?.attach(w);
    if (kms) serveWorkerJournal(w, workerJournal(slot), kms.audit);
    let ready = false;
    w.on('message', (m) => {
      if (!m?.polykmsReady) return;
      ready = true;
      // Once every first worker listens: the line supervisors and tests wait for, with this pid.
      if (!announced && ++started === cfg.workers) {
        announced = true;
        announce(cfg, log, m.polykmsReady as Ready);
      }
    });
    w.on('exit', async (code, signal) => {
      // Every message it sent is in (its channel closed), so the replay comes after its last batch.
      if (w.isConnected()) await new Promise((r) => w.once('disconnect', r));
      // First: a transaction it held is rolled back, so the store's turn is free for the replay.
      await shared?.detach(w);
      await replay(slot);
      // Only now: the last worker to leave closes the store, after every replay.
      workers.delete(w);
      if (stopping) {
        if (!workers.size) void finish(exitCode);
        return;
      }
      if (!ready) {
        // It could not start (its log says why): another would fail the same way.
        log.fatal({ worker: w.id, code, signal }, 'a gateway worker failed to start; stopping');
        exitCode = 1;
        stop('a worker failed to start');
        return;
      }
      log.error({ worker: w.id, code, signal }, 'a gateway worker stopped; starting another');
      fork(slot);
    });
  };
  let exitCode = 0;
  const finish = async (code: number) => {
    await kms?.close();
    await shared?.close();
    log.info('all workers stopped');
    process.exit(code);
  };
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, workers: workers.size }, 'shutting down: every worker finishes its in-flight requests');
    for (const w of workers) w.process.kill('SIGTERM');
    if (!workers.size) void finish(exitCode);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  watchLauncher((pid) => {
    log.info({ pid }, 'the command that started the gateway exited');
    stop('launcher exited');
  });
  for (let slot = 1; slot <= cfg.workers; slot++) fork(slot);
  log.info({ workers: cfg.workers, storage: cfg.databaseUrl ? 'postgres' : 'pglite' }, `polykms: starting ${cfg.workers} worker processes`);
}
