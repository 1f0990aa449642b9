import { parseArgs } from 'node:util';
import { Kms, KmsError, rotateRootKey } from '@polykms/core';
import { pino } from 'pino';
import { configFromEnv } from './config.ts';

const HELP: Record<string, string> = {
  '': `usage: polykms <command> [options]

commands:
  serve                 start the gateway (same as pnpm start)
  migrate               apply database migrations and exit
  tenant create NAME    create a tenant
  tenant list           list tenants
  root-key rotate       re-wrap every key version under POLYKMS_ROOT_KEY (old keys in POLYKMS_ROOT_KEYS_PREVIOUS)

options: --json (machine-readable output), --help
environment: POLYKMS_DATA_DIR, DATABASE_URL, POLYKMS_ROOT_KEY, POLYKMS_ROOT_KEY_FILE, POLYKMS_ROOT_KEYS_PREVIOUS`,
  'root-key rotate': `usage: polykms root-key rotate [--batch N] [--json]

Re-wraps every stored key version under the current root key (POLYKMS_ROOT_KEY or POLYKMS_ROOT_KEY_FILE),
opening rows with the previous keys listed in POLYKMS_ROOT_KEYS_PREVIOUS (comma-separated base64).
Safe to interrupt: run it again and it continues where it stopped.`,
};

class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' }, batch: { type: 'string' } },
  });
  const [cmd, sub, ...rest] = positionals;
  const key = [cmd, sub].filter(Boolean).join(' ');
  if (values.help || !cmd) {
    console.log(HELP[key] ?? HELP[cmd ?? ''] ?? HELP['']);
    return cmd || values.help ? 0 : 2;
  }
  const out = (human: string, data: unknown) => console.log(values.json ? JSON.stringify(data) : human);
  const cfg = configFromEnv();
  const log = pino({ level: process.env.POLYKMS_LOG_LEVEL ?? 'warn' }, pino.destination(2));
  if (cmd === 'serve') {
    await import('./main.ts');
    return -1;
  }
  const open = () => Kms.open({ databaseUrl: cfg.databaseUrl, dataDir: cfg.dataDir, logger: log, rootKeys: { dataDir: cfg.dataDir } });
  switch (key) {
    case 'migrate': {
      const kms = await open();
      await kms.close();
      out('migrations applied', { ok: true });
      return 0;
    }
    case 'tenant create': {
      const name = rest[0] ?? '';
      if (!sub || !name) throw new UsageError('tenant create needs a NAME');
      const kms = await open();
      try {
        const t = await kms.createTenant(name);
        out(`tenant ${t.name} created: ${t.id}`, t);
      } finally {
        await kms.close();
      }
      return 0;
    }
    case 'tenant list': {
      const kms = await open();
      try {
        const ts = await kms.listTenants();
        out(ts.map((t) => `${t.id}  ${t.name}`).join('\n') || '(no tenants)', ts);
      } finally {
        await kms.close();
      }
      return 0;
    }
    case 'root-key rotate': {
      const batch = values.batch === undefined ? 200 : Number(values.batch);
      if (!Number.isInteger(batch) || batch < 1) throw new UsageError('--batch must be a positive integer');
      const kms = await open();
      try {
        const r = await rotateRootKey(kms, {
          batchSize: batch,
          onProgress: (p) => {
            if (!values.json) process.stderr.write(`\rre-wrapped ${p.done}/${p.total}`);
          },
        });
        if (!values.json && r.done) process.stderr.write('\n');
        out(`all key versions are under root key ${kms.currentRootKeyId} (${r.done} re-wrapped)`, { rootKeyId: kms.currentRootKeyId, ...r });
      } finally {
        await kms.close();
      }
      return 0;
    }
    default:
      throw new UsageError(`unknown command '${key || cmd}'`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (e: unknown) => {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`polykms: ${(e as Error).message}\n\n${HELP['']}`);
      process.exit(2);
    }
    console.error(`polykms: ${e instanceof KmsError ? e.message : (e as Error).message}`);
    process.exit(1);
  },
);
