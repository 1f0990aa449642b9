/**
 * Database faults: PostgreSQL goes away mid-load (a TCP proxy between the gateway and the server is
 * cut: connections dropped, new ones refused) and comes back. While it is away every request must
 * fail fast (< 2 s) with OVH's 5xx "unavailable" error body; the process stays up; when the database
 * returns, service resumes by itself. PostgreSQL only (PGlite lives inside the process).
 */
import { createTestDatabase } from '@polykms/core/testing';
import { Client, NoAnswer, type Reply } from '../lib/http.ts';
import { GatewayUnderTest } from '../lib/gw.ts';
import { isOvhError, ovhCategory } from '../lib/ovh.ts';
import { TcpProxy } from '../lib/proxy.ts';
import { fail } from '../lib/tally.ts';
import { preview, sleep, type Scenario } from '../lib/scenario.ts';

const NAME = 'dbfault';
const FAST_MS = 2_000;
const RECOVERY_MS = 20_000;

interface Answer {
  at: number;
  ms: number;
  status: number;
  json: any;
  text: string;
  what: string;
}

export const dbFault: Scenario = {
  name: NAME,
  title: 'PostgreSQL cut mid-load: fast 5xx unavailable, process up, service resumes',
  async run(ctx) {
    if (!ctx.databaseUrl) {
      ctx.log('dbfault: skipped (DATABASE_URL not set)');
      return;
    }
    const t = ctx.tally;
    const db = await createTestDatabase('postgres');
    const target = new URL(db.url!);
    const proxy = await new TcpProxy(target.hostname, Number(target.port || 5432)).start();
    const gw = await GatewayUnderTest.create('postgres', { databaseUrl: proxy.rewrite(db.url!) });
    try {
      await gw.start();
      const { client: root, creds } = await gw.domainWithRoot();
      const key = (
        await root.send({
          method: 'POST',
          path: '/v1/servicekey',
          json: { name: 'dbf', type: 'oct', size: 256, operations: ['encrypt', 'decrypt'] },
        })
      ).json.id as string;
      const answers: Answer[] = [];
      const stop = { stopped: false };
      const clients = Array.from({ length: 4 }, () => new Client(gw.urls.ovh, creds, 2));
      const ops: [string, (c: Client) => Promise<Reply>][] = [
        ['encrypt', (c) => c.send({ method: 'POST', path: `/v1/servicekey/${key}/encrypt`, json: { plaintext: 'aGVsbG8=' } })],
        ['get', (c) => c.send({ method: 'GET', path: `/v1/servicekey/${key}` })],
        ['create', (c) => c.send({ method: 'POST', path: '/v1/servicekey', json: { name: 'dbf-new', type: 'oct', size: 128 } })],
        ['list', (c) => c.send({ method: 'GET', path: '/v1/servicekey?max=10' })],
      ];
      const loops = clients.map(async (c, i) => {
        let n = i;
        while (!stop.stopped) {
          const [what, op] = ops[n++ % ops.length]!;
          const at = Date.now();
          try {
            const r = await op(c);
            answers.push({ at, ms: r.ms, status: r.status, json: r.json, text: r.text, what });
          } catch (e) {
            const x = e as NoAnswer;
            answers.push({
              at,
              ms: x.ms ?? 0,
              status: x.kind === 'hang' ? -1 : 0,
              json: undefined,
              text: x.message,
              what,
            });
          }
          await sleep(20);
        }
      });
      for (let o = 1; o <= ctx.profile.outages; o++) {
        await sleep(1_000);
        const cutAt = Date.now();
        await proxy.cut();
        await sleep(ctx.profile.outageMs);
        const restoreAt = Date.now();
        await proxy.restore();
        // Recovered: every operation answered 2xx again, without any restart.
        let recoveredAt: number | undefined;
        while (Date.now() - restoreAt < RECOVERY_MS && gw.child?.alive()) {
          await sleep(200);
          const since = answers.filter((a) => a.at >= Date.now() - 600);
          if (since.length >= 4 && since.every((a) => a.status >= 200 && a.status < 300)) {
            recoveredAt = Date.now();
            break;
          }
        }
        const during = answers.filter((a) => a.at >= cutAt + 200 && a.at < restoreAt);
        for (const a of during) {
          if (a.status === -1) fail(t, 'hangs', NAME, `outage ${o}: ${a.what} had no answer in 10 s while the database was away`);
          else if (a.status === 0) {
            // A dead process is reported once, below; a live one that drops connections is a failure each time.
            if (gw.child?.alive())
              fail(t, 'crash', NAME, `outage ${o}: ${a.what}: the connection closed without an HTTP answer while the database was away`);
          } else if (a.status >= 500) {
            t.unavailable++;
            t.unavailableMaxMs = Math.max(t.unavailableMaxMs, a.ms);
            if (!isOvhError(a.json) || ovhCategory(a.json.error_code) !== 7)
              fail(t, 'badBody', NAME, `outage ${o}: ${a.what} -> ${a.status} is not OVH's "unavailable" error: ${preview(a.text, 200)}`);
            if (a.ms > FAST_MS) fail(t, 'slow', NAME, `outage ${o}: ${a.what} took ${a.ms} ms to fail (limit ${FAST_MS} ms)`);
          } else if (a.status >= 400)
            fail(
              t,
              'badBody',
              NAME,
              `outage ${o}: ${a.what} -> ${a.status} while the database was away (a client error, not "unavailable"): ${preview(a.text, 200)}`,
            );
        }
        if (!during.length) fail(t, 'hangs', NAME, `outage ${o}: no request finished while the database was away`);
        if (!gw.child?.alive()) {
          const tail = gw.child?.tail() ?? '';
          const first = tail.split('\n').findIndex((l) => /^\S*Error|^node:|throw|Unhandled/.test(l));
          fail(
            t,
            'crash',
            NAME,
            `outage ${o}: the gateway process died (exit ${JSON.stringify(await gw.child?.exited)}): ${tail
              .split('\n')
              .slice(Math.max(0, first - 2), first + 12)
              .join('\n')}`,
          );
          break;
        }
        if (!recoveredAt)
          fail(t, 'recovery', NAME, `outage ${o}: service did not resume within ${RECOVERY_MS / 1000} s of the database coming back`);
        else t.outages++;
        ctx.log(
          `dbfault outage ${o}: ${during.length} answers while away (${during.filter((a) => a.status >= 500).length} 5xx, slowest ${Math.max(0, ...during.map((a) => a.ms))} ms), ${recoveredAt ? `recovered ${recoveredAt - restoreAt} ms after the database came back` : 'no recovery'}`,
        );
      }
      stop.stopped = true;
      await Promise.all(loops);
      // After recovery nothing should still fail (stale pooled connections, a lost LISTEN, ...).
      if (gw.child?.alive()) {
        const after = await root
          .send({ method: 'POST', path: `/v1/servicekey/${key}/encrypt`, json: { plaintext: 'aGVsbG8=' } })
          .catch((e: NoAnswer) => e);
        if (after instanceof NoAnswer || after.status !== 200)
          fail(
            t,
            'recovery',
            NAME,
            `after the outages an encrypt failed: ${after instanceof NoAnswer ? after.message : `${after.status} ${after.text}`}`,
          );
      }
      await Promise.all(clients.map((c) => c.close()));
      await root.close();
    } finally {
      await gw.dispose();
      await proxy.close();
      await db.drop().catch(() => {});
    }
  },
};
