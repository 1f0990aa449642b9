/**
 * A test host: one process serving every dialect on one store, for the fuzz, isolation and tamper
 * scenarios (the gateway binary serves only the dialects wired into apps/gateway/src/gateway.ts).
 * It uses each app's public start function and the gateway's own admin app, so what is fuzzed is the
 * product code; what is added here is only the plumbing:
 *   - one admin port: the gateway's adminApp, plus the Huawei admin routes, behind the same token;
 *   - POST /reliability/sql {sql} (admin token): runs SQL on the store, for the audit tamper scenario.
 * Started by the runner as `node --import tsx reliability/lib/host.ts` with:
 *   RELIABILITY_ADMIN_TOKEN, RELIABILITY_CSE_CONFIGS (JSON array of CSE configuration objects),
 *   DATABASE_URL (optional; PGlite in memory otherwise). Prints {"hostReady": true, "urls": {...}}.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { Kms, makeKeyring, rootKeyFromBytes } from '@polykms/core';
import { silentLogger, dbOf } from '@polykms/core/testing';
import { gatewayCa } from '@polykms/pki';
import { startOvhServer } from '@polykms/ovh';
import { huaweiAdminApp, startHuaweiServer } from '@polykms/huawei';
import { parseCseConfig, startCseServer } from '@polykms/cse';
import { randomBytes } from 'node:crypto';
import { adminApp } from '../../apps/gateway/src/admin/index.ts';

// kysely is core's dependency, not the root's: borrow core's copy for the raw SQL of the tamper scenario.
const { sql } = createRequire(new URL('../../packages/core/package.json', import.meta.url))('kysely') as { sql: any };

type FetchApp = { fetch: (r: Request) => Response | Promise<Response> };

async function toRequest(req: IncomingMessage, base: string): Promise<Request> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const body = Buffer.concat(chunks);
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers.set(k, v);
  return new Request(new URL(req.url ?? '/', base), {
    method: req.method,
    headers,
    body: req.method === 'GET' || req.method === 'HEAD' ? undefined : body,
  });
}

async function reply(res: ServerResponse, r: Response) {
  res.statusCode = r.status;
  r.headers.forEach((v, k) => res.setHeader(k, v));
  res.end(Buffer.from(await r.arrayBuffer()));
}

const main = async () => {
  const token = process.env.RELIABILITY_ADMIN_TOKEN!;
  const databaseUrl = process.env.DATABASE_URL || undefined;
  const kms = await Kms.open({
    databaseUrl,
    inMemory: !databaseUrl,
    keyring: makeKeyring(rootKeyFromBytes(randomBytes(32))),
    logger: silentLogger(),
  });
  const ca = await gatewayCa(kms);
  const host = '127.0.0.1';
  const ovh = await startOvhServer(kms, ca, { host, port: 0 });
  const huawei = await startHuaweiServer(kms, ca, { host, port: 0 });
  const cse: string[] = [];
  for (const c of JSON.parse(process.env.RELIABILITY_CSE_CONFIGS ?? '[]') as unknown[])
    cse.push((await startCseServer(kms, ca, { host, port: 0, config: parseCseConfig(c) })).url);
  const gwAdmin: FetchApp = adminApp(kms, { adminToken: token, ovhUrl: ovh.url });
  const hwAdmin: FetchApp = huaweiAdminApp(kms);
  const server = createServer((req, res) => {
    void (async () => {
      const base = `http://${host}`;
      const path = (req.url ?? '/').split('?')[0]!;
      const authorized = req.headers.authorization === `Bearer ${token}`;
      if (path.startsWith('/admin/huawei') || path.startsWith('/reliability/')) {
        if (!authorized) return reply(res, Response.json({ message: 'admin token' }, { status: 401 }));
        if (path === '/reliability/sql') {
          const r = await toRequest(req, base);
          const { sql: text } = (await r.json()) as { sql: string };
          const out = await sql.raw(text).execute(dbOf(kms));
          return reply(res, Response.json({ rows: out.rows, numAffectedRows: String(out.numAffectedRows ?? '') }));
        }
        if (path === '/reliability/seal') return reply(res, Response.json({ sealed: await kms.sealAudit() }));
        return reply(res, await hwAdmin.fetch(await toRequest(req, base)));
      }
      return reply(res, await gwAdmin.fetch(await toRequest(req, base)));
    })().catch((e) => {
      res.statusCode = 500;
      res.end(JSON.stringify({ message: String((e as Error).message) }));
    });
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  const admin = `http://${host}:${(server.address() as { port: number }).port}`;
  console.log(
    JSON.stringify({
      level: 30,
      hostReady: true,
      storage: kms.driver,
      urls: { admin, ovh: ovh.url, huawei: huawei.url, cse },
    }),
  );
  const stop = () => process.exit(0);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
};

main().catch((e) => {
  console.log(JSON.stringify({ level: 60, msg: `host failed to start: ${(e as Error).stack}` }));
  process.exit(1);
});
