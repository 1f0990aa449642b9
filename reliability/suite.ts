import { fuzz } from './scenarios/fuzz.ts';
import { crash } from './scenarios/crash.ts';
import { crashAudit } from './scenarios/crashaudit.ts';
import { dbFault } from './scenarios/dbfault.ts';
import { concurrency } from './scenarios/concurrency.ts';
import { isolation } from './scenarios/isolation.ts';
import { tamper } from './scenarios/tamper.ts';
import { PROFILES, type Ctx, type Profile, type Scenario } from './lib/scenario.ts';
import { newTally, type Tally } from './lib/tally.ts';

/** Every scenario, in the order they run. A new dialect or check is one more entry here. */
export const SCENARIOS: Scenario[] = [fuzz, isolation, tamper, concurrency, dbFault, crash, crashAudit];

export interface SuiteOptions {
  profile: Profile['name'];
  only?: string[] | undefined;
  seed?: number | undefined;
  databaseUrl?: string | undefined;
  log?: ((m: string) => void) | undefined;
}

/** Runs the scenarios one after the other; a scenario that throws is reported, and the rest still run. */
export async function runSuite(o: SuiteOptions): Promise<Tally> {
  const tally = newTally();
  const profile: Profile = { ...PROFILES[o.profile], seed: o.seed ?? Math.floor(Math.random() * 2 ** 31) };
  const log = o.log ?? ((m: string) => console.log(m));
  const ctx: Ctx = { tally, profile, databaseUrl: o.databaseUrl, log };
  const unknown = (o.only ?? []).filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length) throw new Error(`unknown scenario ${unknown.join(', ')}; scenarios are ${SCENARIOS.map((s) => s.name).join(', ')}`);
  log(`reliability: profile ${profile.name}, seed ${profile.seed}, PostgreSQL ${o.databaseUrl ? 'on' : 'off (DATABASE_URL not set)'}`);
  for (const s of SCENARIOS) {
    if (o.only?.length && !o.only.includes(s.name)) continue;
    const started = Date.now();
    log(`== ${s.name}: ${s.title}`);
    let error: string | undefined;
    try {
      await s.run(ctx);
    } catch (e) {
      error = (e as Error).stack ?? String(e);
      log(`!! ${s.name} did not finish: ${error}`);
    }
    tally.timings.push({ scenario: s.name, ms: Date.now() - started, error });
    log(`== ${s.name} done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  return tally;
}
