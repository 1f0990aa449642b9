import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kms } from '@polykms/core';
import { createTestDatabase, infoLoggerToNull, testKeyring } from '@polykms/core/testing';
import { Metrics } from '@polykms/http';

/**
 * The store a suite runs on, as the gateway runs it: a throwaway database on DATABASE_URL's server, or
 * embedded PGlite in a fresh data directory (as `pnpm start` does). Not PGlite in memory: its file
 * system copies a whole table file each time the file grows, which stalls long runs (p99 > 100 ms).
 */
export async function openBenchKms(suite: string) {
  const db = await createTestDatabase(process.env.DATABASE_URL ? 'postgres' : 'pglite');
  const dir = db.url ? undefined : mkdtempSync(join(tmpdir(), `polykms-bench-${suite}-`));
  // Logged and counted as the gateway does by default (level info, Prometheus metrics), into /dev/null.
  const log = infoLoggerToNull();
  const kms = await Kms.open({ databaseUrl: db.url, dataDir: dir, keyring: testKeyring(), logger: log });
  const metrics = new Metrics({
    keyCache: () => ({ hits: kms.cache.hits, misses: kms.cache.misses, size: kms.cache.size }),
  });
  console.error(`${suite}: storage ${kms.driver}${dir ? ` in ${dir}` : ''}`);
  return {
    kms,
    /** What the gateway gives each dialect's listener. */
    obs: { log, metrics },
    async close() {
      // (An earlier build measured with --before may not count its batches.)
      const { written, batches } = kms.audit as { written?: number; batches?: number };
      if (written !== undefined && batches)
        console.error(`${suite}: audit ${written} events in ${batches} batches (${(written / batches).toFixed(1)} a batch)`);
      await kms.close();
      await db.drop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
