/**
 * `pnpm test:reliability [--full] [--only NAME ...] [--seed N]`: runs the reliability scenarios
 * against real gateway processes, prints a summary table and, as its last line,
 * `reliability: inputs=N 5xx=N hangs=N kills=N lost=N unaudited=N leaks=N tamper_missed=N`. Exits 1 when any
 * failure count is non-zero or a scenario could not finish. See reliability/README.md.
 */
import { parseArgs } from 'node:util';
import { SCENARIOS, runSuite } from './suite.ts';
import { failed, finalLine, otherFailures, renderTable } from './lib/tally.ts';

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    full: { type: 'boolean' },
    ci: { type: 'boolean' },
    only: { type: 'string', multiple: true },
    seed: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(
    `usage: pnpm test:reliability [--full | --ci] [--only SCENARIO ...] [--seed N]\nscenarios: ${SCENARIOS.map((s) => `${s.name} (${s.title})`).join('; ')}`,
  );
  process.exit(0);
}
const only = values.only?.flatMap((s) => s.split(',')).filter(Boolean);
const tally = await runSuite({
  profile: values.full ? 'full' : values.ci ? 'ci' : 'short',
  only,
  seed: values.seed === undefined ? undefined : Number(values.seed),
  databaseUrl: process.env.DATABASE_URL || undefined,
});
if (tally.details.length) {
  console.log('\nfailures:');
  for (const d of tally.details) console.log(`  [${d.kind}] ${d.scenario}: ${d.message}${d.count > 1 ? ` (x${d.count})` : ''}`);
}
for (const x of tally.timings.filter((x) => x.error)) console.log(`  [error] ${x.scenario} did not finish: ${x.error?.split('\n')[0]}`);
console.log(`\n${renderTable(tally)}`);
console.log(
  `scenarios: ${tally.timings.map((x) => `${x.scenario} ${(x.ms / 1000).toFixed(1)}s${x.error ? ' (error)' : ''}`).join(', ')}; other failures: ${otherFailures(tally)}`,
);
console.log(finalLine(tally));
process.exit(failed(tally) ? 1 : 0);
