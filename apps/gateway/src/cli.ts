import { parseArgs } from 'node:util';
import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { isIP } from 'node:net';
import { configFromEnv, parseDialects, type GatewayConfig } from './config.ts';
import type { AdminTarget } from './cli-ovh.ts';
import { HUAWEI_HELP, HUAWEI_OPTIONS, huaweiCommand } from './cli-huawei.ts';
import { CSE_HELP, CSE_OPTIONS, cseCommand } from './cli-cse.ts';
import { UsageError, exitCodeOf } from './usage.ts';
// The store, the gateway and the admin API's code are imported where a command needs them (the
// CLI starts in a fraction of a second; `--help` or a call to a running gateway loads none of them).

const HELP: Record<string, string> = {
  '': `usage: polykms <command> [options]

commands:
  serve                 start the gateway (same as pnpm start); --dialect ovh|huawei|cse (repeatable) serves only those;
                        --workers N: processes serving the listeners (default: the cores available)
  migrate               apply database migrations and exit
  tenant create NAME    create a tenant
  tenant list           list tenants
  key create            --tenant ID|NAME --name N --type oct|RSA|EC|HMAC [--size BITS | --curve P-256|P-384|P-521] [--operation OP ...]
                        (defaults: oct 256, HMAC 256 (SHA-256), RSA 2048, EC P-256)
  key list              --tenant ID|NAME
  tenant link           --tenant ID|NAME [--ovh-domain ID] [--huawei-project ID] [--cse-instance ID]
                        make one tenant's keys usable through several vendors' APIs
  root-key rotate       re-wrap every key version under POLYKMS_ROOT_KEY (old keys in POLYKMS_ROOT_KEYS_PREVIOUS)
  audit export          [--tenant ID|NAME] [--key KEY_ID] [--out FILE]  every audit event, newest first, as JSON lines
  audit verify          check every audit event's MAC and the chain (edited, deleted or forged events); exit 1 if any
  ca export             print the gateway CA certificate (PEM)
  ovh domain create     --region eu-west-rbx: create an OVH KMS domain (okmsId)
  ovh domain list
  ovh credential create --domain ID --identity URN [--identity URN ...] [--name N] [--validity DAYS] [--csr FILE] [--out PREFIX]
                        writes PREFIX.cert, PREFIX.key (0600), PREFIX.ca.pem; PREFIX defaults to $POLYKMS_DATA_DIR/credentials/<credential id>
  ovh credential list   --domain ID
  ovh credential revoke --domain ID --id CREDENTIAL_ID
  ovh credential p12    --cert FILE --key FILE --password PW --out FILE   (PKCS#12 for a browser)
  ovh token create      --domain ID --identity URN [--identity URN ...] [--name N] [--validity DAYS (default 30, at most 365)]
                        prints a bearer token for the OVH API (Authorization: Bearer); it is shown only once
  ovh token list        --domain ID
  ovh token revoke      --domain ID --id TOKEN_ID
  ovh policy set        --domain ID --name NAME --file POLICY.json        (OVH IAM policy)
  ovh policy list       --domain ID
${HUAWEI_HELP}
${CSE_HELP.join('\n')}

options: --json (machine-readable output), --config FILE (gateway configuration, as POLYKMS_CONFIG), --help
environment: POLYKMS_CONFIG, POLYKMS_DATA_DIR, POLYKMS_*_PORT, POLYKMS_DIALECTS, POLYKMS_ADMIN_TOKEN, POLYKMS_ADMIN_CA_FILE, DATABASE_URL, POLYKMS_ROOT_KEY, POLYKMS_ROOT_KEY_FILE, POLYKMS_ROOT_KEYS_PREVIOUS`,
  'root-key rotate': `usage: polykms root-key rotate [--batch N] [--json]

Re-wraps every stored key version under the current root key (POLYKMS_ROOT_KEY or POLYKMS_ROOT_KEY_FILE),
opening rows with the previous keys listed in POLYKMS_ROOT_KEYS_PREVIOUS (comma-separated base64).
Safe to interrupt: run it again and it continues where it stopped.`,
};

/**
 * The running gateway's admin API as this machine reaches it: a wildcard listen address through
 * loopback; HTTPS verified against the gateway CA that the gateway keeps in its data directory
 * (POLYKMS_ADMIN_CA_FILE elsewhere), like the admin token.
 */
function adminTarget(cfg: GatewayConfig): AdminTarget {
  const wildcard = ['0.0.0.0', '::', '[::]', ''].includes(cfg.adminHost);
  const host = wildcard ? '127.0.0.1' : isIP(cfg.adminHost) === 6 ? `[${cfg.adminHost}]` : cfg.adminHost;
  if (!cfg.adminTls) return { url: `http://${host}:${cfg.adminPort}` };
  const caFile = process.env.POLYKMS_ADMIN_CA_FILE || join(cfg.dataDir, 'ca.pem');
  return {
    url: `https://${host}:${cfg.adminPort}`,
    ca: existsSync(caFile) ? readFileSync(caFile, 'utf8') : undefined,
    caFile,
    hostnames: cfg.hostnames,
  };
}

/** The command being run, for the hint under a usage error. */
let running = '';

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...HUAWEI_OPTIONS,
      ...CSE_OPTIONS,
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      batch: { type: 'string' },
      region: { type: 'string' },
      domain: { type: 'string' },
      identity: { type: 'string', multiple: true },
      name: { type: 'string' },
      validity: { type: 'string' },
      csr: { type: 'string' },
      out: { type: 'string' },
      id: { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
      password: { type: 'string' },
      file: { type: 'string' },
      dialect: { type: 'string', multiple: true },
      workers: { type: 'string' },
      config: { type: 'string' },
      tenant: { type: 'string' },
      type: { type: 'string' },
      size: { type: 'string' },
      curve: { type: 'string' },
      operation: { type: 'string', multiple: true },
      'ovh-domain': { type: 'string' },
      'huawei-project': { type: 'string' },
      'cse-instance': { type: 'string' },
    },
  });
  const [cmd, sub, third, ...more] = positionals;
  const vendor = cmd === 'ovh' || cmd === 'huawei' || cmd === 'cse';
  const rest = vendor ? more : [third, ...more].filter((x): x is string => x !== undefined);
  const key = (vendor ? [cmd, sub, third] : [cmd, sub]).filter(Boolean).join(' ');
  if (HELP[key] || HELP[cmd ?? '']) running = HELP[key] ? key : cmd!;
  if (values.help || !cmd) {
    console.log(HELP[key] ?? HELP[cmd ?? ''] ?? HELP['']);
    return cmd || values.help ? 0 : 2;
  }
  const out = (human: string, data: unknown) => console.log(values.json ? JSON.stringify(data) : human);
  // `cse config ...` edits the CSE file named by --config; everywhere else --config is the gateway's.
  if (values.config && cmd !== 'cse') process.env.POLYKMS_CONFIG = values.config;
  if (values.dialect) {
    try {
      process.env.POLYKMS_DIALECTS = parseDialects(values.dialect.join(','), '--dialect').join(',');
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  if (values.workers !== undefined) {
    if (cmd !== 'serve') throw new UsageError('--workers is an option of serve');
    process.env.POLYKMS_WORKERS = values.workers;
  }
  const cfg = configFromEnv();
  if (cmd === 'serve') {
    await import('./main.ts');
    return -1;
  }
  if (cmd === 'cse') return cseCommand(key, values, out, cfg);
  const open = async () => {
    const [{ Kms }, { pino }] = await Promise.all([import('@polykms/core'), import('pino')]);
    const log = pino({ level: process.env.POLYKMS_LOG_LEVEL ?? 'warn' }, pino.destination(2));
    return Kms.open({
      databaseUrl: cfg.databaseUrl,
      dataDir: cfg.dataDir,
      logger: log,
      rootKeys: { dataDir: cfg.dataDir },
    });
  };
  switch (key) {
    case 'migrate': {
      const kms = await open();
      await kms.close();
      out('migrations applied', { ok: true });
      return 0;
    }
    case 'root-key rotate': {
      const batch = values.batch === undefined ? 200 : Number(values.batch);
      if (!Number.isInteger(batch) || batch < 1) throw new UsageError('--batch must be a positive integer');
      const { rotateRootKey } = await import('@polykms/core');
      const kms = await open();
      try {
        const r = await rotateRootKey(kms, {
          batchSize: batch,
          onProgress: (p) => {
            if (!values.json) process.stderr.write(`\rre-wrapped ${p.done}/${p.total}`);
          },
        });
        if (!values.json) process.stderr.write(r.done ? '\n' : `re-wrapped 0/${r.total}: nothing to do\n`);
        out(`all key versions are under root key ${kms.currentRootKeyId} (${r.done} re-wrapped)`, {
          rootKeyId: kms.currentRootKeyId,
          ...r,
        });
      } finally {
        await kms.close();
      }
      return 0;
    }
    default: {
      if (
        !['ca export', 'tenant link', 'tenant create', 'tenant list', 'audit verify', 'audit export', 'key create', 'key list'].includes(
          key,
        ) &&
        !vendor
      )
        throw new UsageError(`unknown command '${key || cmd}'`);
      // Before the store is opened or a gateway called: a vendor command the help does not list.
      if (vendor && !new RegExp(`^  ${key}(?:$| {2,}| --| \\[)`, 'm').test(HELP['']!)) throw new UsageError(`unknown command '${key}'`);
      const token =
        cfg.adminToken ??
        (existsSync(join(cfg.dataDir, 'admin.token')) ? readFileSync(join(cfg.dataDir, 'admin.token'), 'utf8').trim() : undefined);
      // Usage errors before anything is opened.
      if (key === 'tenant create' && !rest[0]) throw new UsageError('tenant create needs a NAME');
      if ((key === 'key create' || key === 'key list' || key === 'tenant link') && !values.tenant)
        throw new UsageError(`${key} needs --tenant ID|NAME`);
      const spec = key === 'key create' ? keySpec(values) : undefined;
      const { adminClient, ovhCommand } = await import('./cli-ovh.ts');
      const admin = await adminClient(adminTarget(cfg), token, open, `https://${cfg.hostnames[0] ?? 'localhost'}:${cfg.ovhPort}`);
      try {
        if (key === 'key create') {
          const t = encodeURIComponent(values.tenant!);
          const k = await admin.call('POST', `/admin/tenants/${t}/keys`, {
            name: values.name,
            ...spec,
            ...(values.operation ? { operations: values.operation } : {}),
          });
          out(`key ${k.id} (${k.type ?? values.type}) created`, k);
          return 0;
        }
        if (key === 'key list') {
          const keys: unknown[] = [];
          for (let cursor: string | null = null; ; ) {
            const page: { keys: unknown[]; nextCursor?: string | null; next?: string | null } = await admin.call(
              'GET',
              `/admin/tenants/${encodeURIComponent(values.tenant!)}/keys?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
            );
            keys.push(...page.keys);
            cursor = page.nextCursor ?? page.next ?? null;
            if (!cursor) break;
          }
          out(
            keys
              .map((k) => {
                const x = k as { id: string; name: string; state: string; type?: string };
                return `${x.id}  ${x.state}  ${x.type ?? ''}  ${x.name}`;
              })
              .join('\n') || '(no keys)',
            keys,
          );
          return 0;
        }
        if (key === 'tenant create') {
          const t = await admin.call('POST', '/admin/tenants', { name: rest[0] });
          out(`tenant ${t.name} created: ${t.id}`, t);
          return 0;
        }
        if (key === 'tenant list') {
          const { tenants } = await admin.call('GET', '/admin/tenants');
          out(
            tenants
              .map(
                (t: { id: string; name: string; bindings: { dialect: string; externalId?: string; external_id?: string }[] }) =>
                  `${t.id}  ${t.name}  ${t.bindings.map((b) => `${b.dialect}:${b.externalId ?? b.external_id}`).join(' ')}`,
              )
              .join('\n') || '(no tenants)',
            tenants,
          );
          return 0;
        }
        if (key === 'tenant link') {
          if (!values.tenant) throw new UsageError('tenant link needs --tenant ID|NAME');
          const wanted = { ovh: values['ovh-domain'], huawei: values['huawei-project'], cse: values['cse-instance'] };
          const links = [];
          for (const [dialect, id] of Object.entries(wanted))
            if (id) links.push(await admin.call('POST', `/admin/tenants/${encodeURIComponent(values.tenant)}/links`, { dialect, id }));
          if (!links.length) throw new UsageError('tenant link needs at least one of --ovh-domain, --huawei-project, --cse-instance');
          out(
            links
              .map((l) => `${l.dialect} ${l.externalId} -> tenant ${l.tenantId}${l.moved ? ' (moved from its own empty tenant)' : ''}`)
              .join('\n'),
            links,
          );
          return 0;
        }
        if (key === 'audit export') {
          const qs = (before: string | null) =>
            new URLSearchParams({
              limit: '1000',
              ...(values.tenant ? { tenant: values.tenant } : {}),
              ...(values.key ? { key: values.key as string } : {}),
              ...(before ? { before } : {}),
            }).toString();
          const file = values.out ? openSync(values.out as string, 'w', 0o600) : undefined;
          let n = 0;
          try {
            for (let before: string | null = null; ; ) {
              const page: { events: unknown[]; nextBefore: string | null } = await admin.call('GET', `/admin/audit?${qs(before)}`);
              const text = page.events.map((e) => `${JSON.stringify(e)}\n`).join('');
              if (file !== undefined) writeSync(file, text);
              else process.stdout.write(text);
              n += page.events.length;
              if (file !== undefined && !values.json) process.stderr.write(`\rexported ${n} events`);
              if (!page.nextBefore) break;
              before = page.nextBefore;
            }
          } finally {
            if (file !== undefined) closeSync(file);
          }
          if (file !== undefined) {
            if (!values.json) process.stderr.write('\n');
            out(`wrote ${n} audit events to ${values.out}`, { file: values.out, events: n });
          }
          return 0;
        }
        if (key === 'audit verify') {
          const v = await admin.call('POST', '/admin/audit/verify');
          out(
            v.ok
              ? `audit trail intact: ${v.checked} events checked, ${v.pending} not yet sealed, ${v.legacy} from before the chain`
              : `AUDIT TRAIL TAMPERED: ${v.problems.length} problem(s)\n${v.problems.map((p: { id: string | null; seq: string | null; problem: string }) => `  event ${p.id ?? '-'} (seq ${p.seq ?? '-'}): ${p.problem}`).join('\n')}`,
            v,
          );
          return v.ok ? 0 : 1;
        }
        if (key === 'ca export') {
          const pem = (await admin.call('GET', '/admin/ca')).certificatePEM as string;
          out(pem.trimEnd(), { certificatePEM: pem });
          return 0;
        }
        return cmd === 'huawei'
          ? await huaweiCommand(key, values, admin.call, out)
          : await ovhCommand(key, values, admin.call, out, cfg.dataDir);
      } finally {
        await admin.close();
      }
    }
  }
}

const KEY_SIZES: Record<string, readonly number[]> = {
  oct: [128, 192, 256],
  HMAC: [256, 384, 512],
  RSA: [2048, 3072, 4096],
};
const DEFAULT_SIZE: Record<string, number> = { oct: 256, HMAC: 256, RSA: 2048 };

/** `key create`'s type and size or curve, checked before anything is opened; the usual choice when not given. */
function keySpec(v: { name?: string | undefined; type?: string | undefined; size?: string | undefined; curve?: string | undefined }) {
  if (!v.name) throw new UsageError('key create needs --name');
  const type = v.type;
  if (!type) throw new UsageError('key create needs --type oct|RSA|EC|HMAC');
  if (type === 'EC') {
    if (v.size !== undefined) throw new UsageError('an EC key takes --curve P-256|P-384|P-521, not --size');
    const curve = v.curve ?? 'P-256';
    if (!['P-256', 'P-384', 'P-521'].includes(curve)) throw new UsageError(`--curve must be P-256, P-384 or P-521; got '${curve}'`);
    return { type, curve };
  }
  const sizes = KEY_SIZES[type];
  if (!sizes) throw new UsageError(`--type must be oct, RSA, EC or HMAC; got '${type}'`);
  if (v.curve !== undefined) throw new UsageError(`a ${type} key takes --size, not --curve`);
  const size = v.size === undefined ? DEFAULT_SIZE[type]! : Number(v.size);
  if (!sizes.includes(size)) throw new UsageError(`--size of a ${type} key must be ${sizes.join(', ')}; got '${v.size}'`);
  return { type, size };
}

const argv = process.argv.slice(2);
main(argv).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (e: unknown) => {
    const code = exitCodeOf(e);
    const message = (e as Error).message;
    // A usage error is one line and where to read more; the full help is one --help away.
    const hint = code === 2 ? `run 'polykms ${running ? `${running} ` : ''}--help' for usage` : undefined;
    if (argv.includes('--json'))
      console.error(JSON.stringify({ error: { kind: code === 2 ? 'usage' : 'refused', message, ...(hint ? { hint } : {}) } }));
    else console.error(`polykms: ${message}${hint ? `\n${hint}` : ''}`);
    process.exit(code);
  },
);
