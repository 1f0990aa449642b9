/**
 * Crash safety: clients create keys, change their states and encrypt under load; the gateway gets
 * SIGKILL at a random moment; it is started again on the same data, and every acknowledged fact must
 * hold: each acknowledged key exists in its last acknowledged state, each acknowledged ciphertext
 * decrypts to its plaintext. A request cut by the kill is "in doubt": either outcome is accepted, and
 * the model adopts what the restarted gateway shows. On PGlite (data directory) and on PostgreSQL.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Backend } from '@polykms/core/testing';
import { Client, NoAnswer, type Reply } from '../lib/http.ts';
import { GatewayUnderTest } from '../lib/gw.ts';
import { fail } from '../lib/tally.ts';
import { rng, sleep, type Ctx, type Scenario } from '../lib/scenario.ts';

const NAME = 'crash';

type State = 'active' | 'deactivated' | 'destroyed' | 'absent';

interface KeyFact {
  id: string;
  /** Possible states: one when acknowledged, two when a request about it was cut by the kill. */
  states: Set<State>;
  /** Keys for encryption never change state, so each of their ciphertexts must decrypt. */
  crypto: boolean;
  busy: boolean;
}

interface CipherFact {
  keyId: string;
  ciphertext: string;
  plaintext: string;
  cycle: number;
}

const STATE_OF: Record<string, State> = {
  active: 'active',
  deactivated: 'deactivated',
  compromised: 'deactivated',
  destroyed: 'destroyed',
  destroyed_compromised: 'destroyed',
};

async function cycleLoad(
  ctx: Ctx,
  client: Client,
  keys: Map<string, KeyFact>,
  ciphers: CipherFact[],
  cycle: number,
  clientNo: number,
  stop: { stopped: boolean },
) {
  const r = rng(ctx.profile.seed * 1000 + cycle * 37 + clientNo);
  const mine = () => [...keys.values()].filter((k) => !k.busy && k.id.endsWith(String(clientNo % 10)));
  while (!stop.stopped) {
    const op = r.pick(['create', 'create', 'encrypt', 'encrypt', 'encrypt', 'deactivate', 'activate', 'delete'] as const);
    const own = mine();
    const pickKey = (pred: (k: KeyFact) => boolean) => {
      const xs = own.filter(pred);
      return xs.length ? r.pick(xs) : undefined;
    };
    const only = (k: KeyFact, s: State) => k.states.size === 1 && k.states.has(s);
    /** Sends; on an answer applies `ok`, on no answer (the kill) records both outcomes as possible. */
    const act = async (k: KeyFact | undefined, send: () => Promise<Reply>, ok: (r: Reply) => void, doubt?: State) => {
      if (k) k.busy = true;
      try {
        const res = await send();
        if (res.status < 300) ok(res);
      } catch (e) {
        if (!(e instanceof NoAnswer)) throw e;
        if (k && doubt) k.states.add(doubt);
      } finally {
        if (k) k.busy = false;
      }
    };
    if (op === 'create') {
      // The id is chosen here, so a create cut by the kill can be looked up afterwards. Its last
      // digit says which client owns the key: no two clients touch one key in this scenario.
      let id = randomUUID();
      id = id.slice(0, -1) + String(clientNo % 10);
      const crypto = r.next() < 0.4;
      const k: KeyFact = { id, states: new Set(['absent']), crypto, busy: true };
      keys.set(id, k);
      await act(
        k,
        () =>
          client.send({
            method: 'POST',
            path: '/v1/servicekey',
            json: { id, name: `c${cycle}`, type: 'oct', size: 256, operations: ['encrypt', 'decrypt'] },
          }),
        () => (k.states = new Set(['active'])),
        'active',
      );
    } else if (op === 'encrypt') {
      const k = pickKey((x) => x.crypto && only(x, 'active'));
      if (!k) continue;
      const plaintext = randomBytes(r.int(1, 64)).toString('base64');
      await act(
        undefined,
        () =>
          client.send({
            method: 'POST',
            path: `/v1/servicekey/${k.id}/encrypt`,
            json: { plaintext, context: k.id.slice(0, 8) },
          }),
        (res) => void ciphers.push({ keyId: k.id, ciphertext: res.json.ciphertext, plaintext, cycle }),
      );
    } else if (op === 'deactivate') {
      const k = pickKey((x) => !x.crypto && only(x, 'active'));
      if (!k) continue;
      await act(
        k,
        () => client.send({ method: 'POST', path: `/v1/servicekey/${k.id}/deactivate`, json: { reason: 'unspecified' } }),
        () => (k.states = new Set(['deactivated'])),
        'deactivated',
      );
    } else if (op === 'activate') {
      const k = pickKey((x) => !x.crypto && only(x, 'deactivated'));
      if (!k) continue;
      await act(
        k,
        () => client.send({ method: 'POST', path: `/v1/servicekey/${k.id}/activate` }),
        () => (k.states = new Set(['active'])),
        'active',
      );
    } else {
      const k = pickKey((x) => !x.crypto && only(x, 'deactivated'));
      if (!k) continue;
      await act(
        k,
        () => client.send({ method: 'DELETE', path: `/v1/servicekey/${k.id}` }),
        () => (k.states = new Set(['destroyed'])),
        'destroyed',
      );
    }
  }
}

/** After a restart: every fact the clients were told must still be true. */
async function check(ctx: Ctx, backend: Backend, client: Client, keys: Map<string, KeyFact>, ciphers: CipherFact[], cycle: number) {
  const t = ctx.tally;
  for (const k of keys.values()) {
    const r = await client.send({ method: 'GET', path: `/v1/servicekey/${k.id}` });
    const actual: State | undefined = r.status === 404 ? 'absent' : r.status === 200 ? STATE_OF[r.json.attributes?.state] : undefined;
    t.ackedChecked++;
    if (!actual || !k.states.has(actual)) {
      fail(
        t,
        'lost',
        NAME,
        `${backend} cycle ${cycle}: key ${k.id} acknowledged as ${[...k.states].join(' or ')}, after the restart: ${r.status} ${actual ?? r.text.slice(0, 200)}`,
      );
    }
    // Adopt what is there (an in-doubt request may have gone either way); a lost key is dropped.
    if (actual && actual !== 'absent') k.states = new Set([actual]);
    else keys.delete(k.id);
  }
  // Every ciphertext of the last cycle, and a sample of the older ones.
  const recent = ciphers.filter((c) => c.cycle === cycle);
  const older = ciphers.filter((c) => c.cycle !== cycle);
  const sample = [...recent, ...older.sort(() => Math.random() - 0.5).slice(0, 20)];
  for (const c of sample) {
    const r = await client.send({
      method: 'POST',
      path: `/v1/servicekey/${c.keyId}/decrypt`,
      json: { ciphertext: c.ciphertext, context: c.keyId.slice(0, 8) },
    });
    t.ackedChecked++;
    if (r.status !== 200 || r.json?.plaintext !== c.plaintext)
      fail(
        t,
        'lost',
        NAME,
        `${backend} cycle ${cycle}: an acknowledged ciphertext of key ${c.keyId} (cycle ${c.cycle}) no longer decrypts: ${r.status} ${r.text.slice(0, 200)}`,
      );
  }
}

async function runBackend(ctx: Ctx, backend: Backend, cycles: number) {
  const gw = await GatewayUnderTest.create(backend);
  try {
    await gw.start();
    const { creds } = await gw.domainWithRoot();
    const keys = new Map<string, KeyFact>();
    const ciphers: CipherFact[] = [];
    const r = rng(ctx.profile.seed + (backend === 'postgres' ? 1 : 0));
    let restartMs = 0;
    for (let cycle = 1; cycle <= cycles; cycle++) {
      const clients = Array.from({ length: ctx.profile.killClients }, () => new Client(gw.urls.ovh, creds, 2));
      const stop = { stopped: false };
      const load = clients.map((c, i) => cycleLoad(ctx, c, keys, ciphers, cycle, i, stop));
      await sleep(r.int(...ctx.profile.killWindowMs));
      await gw.kill();
      stop.stopped = true;
      await Promise.all(load);
      await Promise.all(clients.map((c) => c.close()));
      for (const k of keys.values()) k.busy = false;
      const started = Date.now();
      try {
        await gw.start();
      } catch (e) {
        fail(
          ctx.tally,
          'recovery',
          NAME,
          `${backend} cycle ${cycle}: the gateway did not start again after SIGKILL: ${(e as Error).message.slice(0, 600)}`,
        );
        return;
      }
      restartMs += Date.now() - started;
      ctx.tally.kills++;
      const checker = new Client(gw.urls.ovh, creds);
      await check(ctx, backend, checker, keys, ciphers, cycle);
      await checker.close();
    }
    ctx.log(
      `crash ${backend}: ${cycles} kills, ${keys.size} keys and ${ciphers.length} ciphertexts acknowledged, mean restart ${Math.round(restartMs / cycles)} ms`,
    );
  } finally {
    await gw.dispose();
  }
}

export const crash: Scenario = {
  name: NAME,
  title: 'SIGKILL under load, restart, every acknowledged write still there',
  async run(ctx) {
    await runBackend(ctx, 'pglite', ctx.profile.killsPglite + (ctx.databaseUrl ? 0 : ctx.profile.killsPostgres));
    if (ctx.databaseUrl) await runBackend(ctx, 'postgres', ctx.profile.killsPostgres);
    else ctx.log('crash: PostgreSQL skipped (DATABASE_URL not set); its cycles ran on PGlite');
  },
};
