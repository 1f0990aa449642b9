// @ts-check
// The embedded database on its own thread (see pglite-thread.ts): PGlite runs PostgreSQL compiled to
// WebAssembly synchronously, so on the main thread every statement stopped every request.
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { lowerThisThread } from '../runtime/threads.mjs';

const reply = (m) => parentPort.postMessage(m);

// Below the event loop in the scheduler's eyes: on a busy machine the statements (mostly audit
// batches, which nobody waits for) yield to request handling.
lowerThisThread();
const errorOf = (e) => {
  const out = { message: e instanceof Error ? e.message : String(e), name: e?.name ?? 'Error' };
  for (const k of ['code', 'detail', 'hint', 'constraint', 'table', 'column', 'schema', 'severity', 'position', 'where'])
    if (e?.[k] !== undefined) out[k] = e[k];
  return out;
};

let db;
try {
  db = workerData.dataDir ? new PGlite(workerData.dataDir) : new PGlite();
  await db.waitReady;
  reply({ type: 'ready' });
} catch (e) {
  reply({ type: 'ready', error: errorOf(e) });
}
const unlisteners = new Map();
parentPort.on('message', async (m) => {
  try {
    if (m.type === 'query') {
      const r = await db.query(m.sql, m.params);
      reply({ id: m.id, result: { rows: r.rows, affectedRows: r.affectedRows } });
    } else if (m.type === 'listen') {
      unlisteners.set(m.id, await db.listen(m.channel, (payload) => reply({ type: 'notify', sub: m.id, payload })));
      reply({ id: m.id, result: null });
    } else if (m.type === 'unlisten') {
      await unlisteners.get(m.sub)?.();
      unlisteners.delete(m.sub);
      reply({ id: m.id, result: null });
    } else if (m.type === 'close') {
      await db.close();
      reply({ id: m.id, result: null });
    }
  } catch (e) {
    reply({ id: m.id, error: errorOf(e) });
  }
});
