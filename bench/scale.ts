import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kms, materialAad, sealMaterial, type Caller } from '@polykms/core';
import { createTestDatabase, silentLogger, testKeyring, dbOf } from '@polykms/core/testing';
import { closedLoop, type Row } from './harness.ts';

/**
 * Scale: a tenant with 100k keys against one with 1k (list pages must cost about the same: keyset
 * pagination on an index), touching 100k distinct keys (memory must stay bounded), and opening a store
 * that holds 100k keys (start-up must not scan them). Keys are written in bulk, sealed exactly as core
 * seals them, so that setting up does not take minutes.
 */
export async function benchScale(opts: { ms: number; concurrency: number; keys?: number }): Promise<Row[]> {
  const big = opts.keys ?? Number(process.env.POLYKMS_SCALE_KEYS ?? 100_000);
  const small = 1000;
  const db = await createTestDatabase(process.env.DATABASE_URL ? 'postgres' : 'pglite');
  const dir = mkdtempSync(join(tmpdir(), 'polykms-scale-'));
  const keyring = testKeyring();
  const open = () => Kms.open({ databaseUrl: db.url, dataDir: dir, keyring, logger: silentLogger() });
  let kms = await open();
  console.error(`scale: storage ${kms.driver}, ${big} keys`);
  const tenant = async (name: string, n: number) => {
    const t = await kms.tenants.create(name);
    const root = keyring.current;
    const now = Date.now();
    const ids: string[] = [];
    for (let i = 0; i < n; i += 1000) {
      const rows = Array.from({ length: Math.min(1000, n - i) }, (_, j) => {
        const id = randomUUID();
        ids.push(id);
        const at = new Date(now - (n - i - j) * 1000);
        return {
          key: {
            id,
            tenant_id: t.id,
            name: `k${i + j}`,
            description: '',
            alias: null,
            kind: 'oct',
            size: 256,
            curve: null,
            ops: ['encrypt', 'decrypt'],
            origin: 'generated',
            state: 'active',
            current_version: 1,
            revision: 1,
            created_at: at,
            updated_at: at,
            activated_at: at,
            attributes: '{}',
          },
          version: {
            tenant_id: t.id,
            key_id: id,
            version: 1,
            root_key_id: root.id,
            material: sealMaterial(root, randomBytes(32), materialAad(t.id, id, 1)),
            public_spki: null,
          },
        };
      });
      await dbOf(kms)
        .insertInto('keys')
        .values(rows.map((r) => r.key))
        .execute();
      await dbOf(kms)
        .insertInto('key_versions')
        .values(rows.map((r) => r.version))
        .execute();
      if (n > small) process.stderr.write(`\r  ${name}: ${i + rows.length}/${n} keys`);
    }
    if (n > small) process.stderr.write('\n');
    return { caller: { tenantId: t.id, dialect: 'bench', principal: 'bench' } as Caller, ids };
  };
  const smallT = await tenant('scale-1k', small);
  const bigT = await tenant('scale-big', big);
  // What autovacuum (Postgres) or the gateway's periodic ANALYZE (PGlite) does after a bulk load.
  await kms.analyze();
  const rows: Row[] = [];

  // List pages: the first page and a page deep inside, in each tenant, alternating.
  const deepCursor = async (c: Caller, depth: number) => {
    let cursor: string | undefined;
    for (let i = 0; i < depth; i++) cursor = (await kms.listKeys(c, { limit: 100, cursor })).nextCursor ?? undefined;
    return cursor;
  };
  const smallDeep = await deepCursor(smallT.caller, 5);
  const bigDeep = await deepCursor(bigT.caller, 5);
  const listSmall = () => kms.listKeys(smallT.caller, { limit: 100, cursor: smallDeep });
  const listBig = () => kms.listKeys(bigT.caller, { limit: 100, cursor: bigDeep });
  const slice = Math.max(500, opts.ms / 2);
  const s1 = await closedLoop(listSmall, 4, slice);
  const b1 = await closedLoop(listBig, 4, slice);
  const s2 = await closedLoop(listSmall, 4, slice);
  const b2 = await closedLoop(listBig, 4, slice);
  const sRate = (s1.opsPerSec + s2.opsPerSec) / 2;
  const bRate = (b1.opsPerSec + b2.opsPerSec) / 2;
  rows.push({
    scenario: `scale.list.${big / 1000}k`,
    reqPerSec: bRate,
    p50Ms: Math.max(b1.p50Ms, b2.p50Ms),
    p99Ms: Math.max(b1.p99Ms, b2.p99Ms),
    baseline: `list page at ${small / 1000}k keys`,
    baselineReqPerSec: sRate,
    ratio: bRate / sRate,
  });

  // Touch every key once (encrypt): the parsed-key cache and the row cache are bounded. The hot path
  // runs first on one key, so that what starts once (the audit writer's worker, the crypto paths) is in
  // the baseline and the growth is what the keys cost.
  await closedLoop(() => kms.encrypt(bigT.caller, bigT.ids[0]!, Buffer.from('warm')), opts.concurrency, 500);
  await kms.sealAudit();
  globalThis.gc?.();
  const rssBefore = process.memoryUsage().rss;
  let next = 0;
  const t0 = performance.now();
  const lat: number[] = [];
  await Promise.all(
    Array.from({ length: opts.concurrency }, async () => {
      while (next < bigT.ids.length) {
        const id = bigT.ids[next++]!;
        const t = performance.now();
        await kms.encrypt(bigT.caller, id, Buffer.from('touch'));
        lat.push(performance.now() - t);
      }
    }),
  );
  const touchRate = (bigT.ids.length / (performance.now() - t0)) * 1000;
  await kms.sealAudit();
  globalThis.gc?.();
  const rssGrowthMb = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
  lat.sort((a, b) => a - b);
  const warm = await closedLoop(() => kms.encrypt(bigT.caller, bigT.ids[0]!, Buffer.from('warm')), opts.concurrency, slice);
  rows.push({
    scenario: `scale.touch.${big / 1000}k`,
    reqPerSec: touchRate,
    p50Ms: lat[Math.floor(lat.length / 2)] ?? 0,
    p99Ms: lat[Math.floor(lat.length * 0.99)] ?? 0,
    baseline: 'one warm key',
    baselineReqPerSec: warm.opsPerSec,
    ratio: touchRate / warm.opsPerSec,
    rssGrowthMb: Math.round(rssGrowthMb),
  } as Row);

  // Start-up with all of that stored.
  await kms.close();
  const t1 = performance.now();
  kms = await open();
  const startupMs = performance.now() - t1;
  rows.push({
    scenario: `scale.startup.${big / 1000}k`,
    reqPerSec: 1000 / startupMs,
    p50Ms: startupMs,
    p99Ms: startupMs,
    baseline: 'target 3000 ms',
    baselineReqPerSec: 1000 / 3000,
    ratio: 3000 / startupMs,
    startupMs: Math.round(startupMs),
  } as Row);
  await kms.close();
  await db.drop();
  rmSync(dir, { recursive: true, force: true });
  console.error(
    `scale: list ratio ${(bRate / sRate).toFixed(2)} (>= 0.67 wanted), RSS growth ${rssGrowthMb.toFixed(0)} MB over ${big} keys (< 100 wanted), start-up ${startupMs.toFixed(0)} ms (< 3000 wanted)`,
  );
  return rows;
}
