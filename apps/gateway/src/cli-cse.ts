import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CseConfigFile } from '@polykms/cse';
import type { GatewayConfig } from './config.ts';
import { UsageError } from './usage.ts';

type Values = Record<string, string | string[] | boolean | undefined>;

/** parseArgs option specs of `polykms cse ...` (merged into the CLI's options). */
export const CSE_OPTIONS = {
  config: { type: 'string' },
  'kacls-url': { type: 'string' },
  'instance-name': { type: 'string' },
  issuer: { type: 'string' },
  'jwks-uri': { type: 'string' },
  audience: { type: 'string', multiple: true },
  application: { type: 'string' },
  email: { type: 'string' },
  url: { type: 'string' },
  'ca-file': { type: 'string' },
  'allow-guests': { type: 'string' },
  'owner-domain': { type: 'string' },
  'clock-skew': { type: 'string' },
  force: { type: 'boolean' },
  role: { type: 'string' },
  resource: { type: 'string' },
  perimeter: { type: 'string' },
  'spki-hash': { type: 'string' },
  'delegated-to': { type: 'string' },
  minutes: { type: 'string' },
} as const;

export const CSE_HELP = [
  '  cse config show       [--config FILE]                        print the CSE (KACLS) configuration',
  '  cse config init       --kacls-url URL [--force]              write a new configuration file',
  '  cse config set        [--kacls-url URL] [--name N] [--instance-name ID] [--allow-guests true|false] [--owner-domain D] [--clock-skew SECONDS]',
  '  cse config add-idp    --issuer ISS --jwks-uri https://...|file:///... --audience AUD [--audience AUD ...]',
  '  cse config add-issuer --issuer ISS --jwks-uri URI [--application drive|meet|calendar|gmail|migration|other]',
  '  cse config add-privileged-user --email EMAIL',
  '  cse config add-peer   --url https://other-kacls/v1 [--jwks-uri URI] [--ca-file PEM]',
  '                        (the file is POLYKMS_CSE_CONFIG or --config; every write is validated first)',
  '  cse demo              [--force]   FOR TESTING: a configuration with a local identity provider and authorization issuer',
  '                        (keys in $POLYKMS_DATA_DIR/cse-demo), ready-made tokens and the curl calls to try every method',
  '  cse demo token        --role authentication|reader|writer|upgrader|verifier|migrator|signer|decrypter [--email E]',
  '                        [--resource NAME] [--perimeter ID] [--spki-hash B64] [--delegated-to E] [--minutes N]   one test token',
];

/** `polykms cse config ...`: edits the JSON file, validated with the same schema the KACLS loads it with. */
export async function cseCommand(key: string, v: Values, out: (human: string, data: unknown) => void, cfg: GatewayConfig): Promise<number> {
  if (key === 'cse demo' || key === 'cse demo token') return cseDemo(key, v, out, cfg);
  const file = (typeof v.config === 'string' && v.config) || process.env.POLYKMS_CSE_CONFIG;
  const { CseConfigSchema, describeConfigIssues } = await import('@polykms/cse');
  if (!file) throw new UsageError(`${key} needs --config FILE or POLYKMS_CSE_CONFIG`);
  const str = (name: string) => {
    const x = v[name];
    if (x === undefined) return undefined;
    if (typeof x !== 'string' || !x) throw new UsageError(`--${name} needs a value`);
    return x;
  };
  const need = (name: string) => str(name) ?? throwUsage(`${key} needs --${name}`);
  const read = (): CseConfigFile => {
    if (!existsSync(file))
      throw new UsageError(`${file} does not exist; create it with: polykms cse config init --kacls-url https://... --config ${file}`);
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as CseConfigFile;
    } catch (e) {
      throw new UsageError(`${file} is not JSON: ${(e as Error).message}`);
    }
  };
  const save = (doc: CseConfigFile, what: string) => {
    const r = CseConfigSchema.safeParse(doc);
    if (!r.success) throw new UsageError(`not written, the result would not be valid:\n${describeConfigIssues(r.error)}`);
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, `${JSON.stringify(doc, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, file);
    out(`${what}; wrote ${file}`, doc);
    return 0;
  };
  const push = <T>(list: T[] | undefined, item: T, same: (a: T) => boolean, what: string): T[] => {
    const l = [...(list ?? [])];
    if (l.some(same)) throw new UsageError(`${what} is already in ${file}`);
    l.push(item);
    return l;
  };
  switch (key) {
    case 'cse config show': {
      const doc = read();
      const r = CseConfigSchema.safeParse(doc);
      out(`${JSON.stringify(doc, null, 2)}${r.success ? '' : `\n\nwarning: not valid:\n${describeConfigIssues(r.error)}`}`, doc);
      return r.success ? 0 : 1;
    }
    case 'cse config init': {
      if (existsSync(file) && !v.force) throw new UsageError(`${file} exists; pass --force to replace it`);
      return save(
        {
          kaclsUrl: need('kacls-url'),
          identityProviders: [],
          authorizationIssuers: [],
          privilegedUsers: [],
          allowGuests: false,
          perimeters: {},
          peers: [],
        },
        'configuration created',
      );
    }
    case 'cse config set': {
      const doc = read();
      const bool = (name: string) => {
        const x = str(name);
        if (x === undefined) return undefined;
        if (x !== 'true' && x !== 'false') throw new UsageError(`--${name} is true or false`);
        return x === 'true';
      };
      const skew = str('clock-skew');
      const patch: Partial<CseConfigFile> = {
        ...(str('kacls-url') !== undefined ? { kaclsUrl: str('kacls-url') } : {}),
        ...(str('name') !== undefined ? { name: str('name') } : {}),
        ...(str('instance-name') !== undefined ? { instance: str('instance-name') } : {}),
        ...(bool('allow-guests') !== undefined ? { allowGuests: bool('allow-guests') } : {}),
        ...(str('owner-domain') !== undefined ? { ownerDomain: str('owner-domain') } : {}),
        ...(skew !== undefined ? { clockSkewSeconds: Number(skew) } : {}),
      };
      if (!Object.keys(patch).length)
        throw new UsageError(
          'cse config set needs at least one of --kacls-url, --name, --instance-name, --allow-guests, --owner-domain, --clock-skew',
        );
      return save({ ...doc, ...patch } as CseConfigFile, `set ${Object.keys(patch).join(', ')}`);
    }
    case 'cse config add-idp': {
      const doc = read();
      const audiences = (v.audience as string[] | undefined) ?? [];
      if (!audiences.length) throw new UsageError('cse config add-idp needs at least one --audience (the IdP client ids)');
      const issuer = need('issuer');
      return save(
        {
          ...doc,
          identityProviders: push(
            doc.identityProviders,
            { issuer, jwksUri: need('jwks-uri'), audiences },
            (p) => p.issuer === issuer,
            `identity provider ${issuer}`,
          ),
        },
        `identity provider ${issuer} added`,
      );
    }
    case 'cse config add-issuer': {
      const doc = read();
      const issuer = need('issuer');
      const application = str('application') as 'drive' | undefined;
      return save(
        {
          ...doc,
          authorizationIssuers: push(
            doc.authorizationIssuers,
            { issuer, jwksUri: need('jwks-uri'), ...(application ? { application } : {}) },
            (p) => p.issuer === issuer,
            `authorization issuer ${issuer}`,
          ),
        },
        `authorization issuer ${issuer} added`,
      );
    }
    case 'cse config add-privileged-user': {
      const doc = read();
      const email = need('email');
      return save(
        {
          ...doc,
          privilegedUsers: push(doc.privilegedUsers, email, (e) => e.toLowerCase() === email.toLowerCase(), email),
        },
        `${email} may call the privileged methods`,
      );
    }
    case 'cse config add-peer': {
      const doc = read();
      const url = need('url');
      const jwksUri = str('jwks-uri');
      const caFile = str('ca-file');
      return save(
        {
          ...doc,
          peers: push(
            doc.peers,
            { url, ...(jwksUri ? { jwksUri } : {}), ...(caFile ? { caFile } : {}) },
            (p) => p.url.replace(/\/+$/, '') === url.replace(/\/+$/, ''),
            `peer ${url}`,
          ),
        },
        `peer KACLS ${url} added`,
      );
    }
    default:
      throw new UsageError(`unknown command '${key}'`);
  }
}

/**
 * `polykms cse demo [token]`: the KACLS without Google (see @polykms/cse demo.ts). The demo lives in the
 * data directory, beside the gateway CA the printed curl calls trust.
 */
async function cseDemo(key: string, v: Values, out: (human: string, data: unknown) => void, cfg: GatewayConfig): Promise<number> {
  const { writeDemo, demoToken, DEMO_ROLES, DEMO_USER, DEMO_ADMIN, DEMO_RESOURCE } = await import('@polykms/cse');
  const dir = join(cfg.dataDir, 'cse-demo');
  const str = (name: string) => {
    const x = v[name];
    if (x === undefined) return undefined;
    if (typeof x !== 'string' || !x) throw new UsageError(`--${name} needs a value`);
    return x;
  };
  const minutesText = str('minutes');
  const minutes = minutesText === undefined ? 60 : Number(minutesText);
  if (!Number.isFinite(minutes) || minutes <= 0 || minutes > 24 * 60)
    throw new UsageError('--minutes must be a number of minutes from 1 to 1440');
  if (key === 'cse demo token') {
    const role = str('role');
    const kinds = ['authentication', ...DEMO_ROLES] as const;
    if (!role || !(kinds as readonly string[]).includes(role)) throw new UsageError(`cse demo token needs --role ${kinds.join('|')}`);
    if (!existsSync(join(dir, 'cse.json'))) throw new UsageError(`no demo in ${dir}: run polykms cse demo first`);
    const token = await demoToken(dir, {
      kind: role as (typeof kinds)[number],
      email: str('email'),
      resourceName: str('resource'),
      perimeterId: str('perimeter'),
      spkiHash: str('spki-hash'),
      delegatedTo: str('delegated-to'),
      minutes,
    });
    out(token, { token });
    return 0;
  }
  const host = cfg.hostnames[0] ?? 'localhost';
  const kaclsUrl = `https://${host}:${cfg.csePort}/v1`;
  const demo = writeDemo(dir, kaclsUrl, v.force === true);
  const mint = (kind: 'authentication' | 'reader' | 'writer', email?: string) => demoToken(dir, { kind, email, minutes });
  const tokens = {
    AUTHN: await mint('authentication'),
    AUTHZ_WRITER: await mint('writer'),
    AUTHZ_READER: await mint('reader'),
    ADMIN_AUTHN: await mint('authentication', DEMO_ADMIN),
  };
  const dek = randomBytes(32).toString('base64');
  const config = join(dir, 'cse.json');
  const ca = join(cfg.dataDir, 'ca.pem');
  const curl = `curl -sS --cacert ${ca} -H 'Content-Type: application/json'`;
  const human = [
    'polykms CSE demo: FOR TESTING ONLY. A local identity provider and a local authorization issuer stand in for Google.',
    `Their private keys are in ${dir}: whoever reads them can mint tokens this configuration accepts.`,
    'Never use it, or its tokens, for real data.',
    '',
    `configuration: ${config} (KACLS URL ${kaclsUrl})${demo.newKeys ? '' : ', signing keys kept from the last run'}`,
    '',
    '1. Start (or restart) the gateway with it:',
    `   POLYKMS_CSE_CONFIG=${config} pnpm start`,
    '',
    `2. Test tokens, valid ${minutes} minutes (pnpm polykms cse demo token --role ... mints others):`,
    `   export AUTHN='${tokens.AUTHN}'   # ${DEMO_USER}, from the demo identity provider`,
    `   export AUTHZ_WRITER='${tokens.AUTHZ_WRITER}'   # role writer on ${DEMO_RESOURCE}`,
    `   export AUTHZ_READER='${tokens.AUTHZ_READER}'   # role reader, same document`,
    `   export ADMIN_AUTHN='${tokens.ADMIN_AUTHN}'   # ${DEMO_ADMIN}, a privileged user`,
    `   export DEK='${dek}'   # a 32-byte data key to wrap`,
    '',
    '3. Calls:',
    `   ${curl} https://${host}:${cfg.csePort}/v1/status`,
    `   ${curl} https://${host}:${cfg.csePort}/v1/wrap -d "{\\"authentication\\":\\"$AUTHN\\",\\"authorization\\":\\"$AUTHZ_WRITER\\",\\"key\\":\\"$DEK\\",\\"reason\\":\\"demo\\"}"`,
    `   export WRAPPED=<wrapped_key from the answer>`,
    `   ${curl} https://${host}:${cfg.csePort}/v1/unwrap -d "{\\"authentication\\":\\"$AUTHN\\",\\"authorization\\":\\"$AUTHZ_READER\\",\\"wrapped_key\\":\\"$WRAPPED\\",\\"reason\\":\\"demo\\"}"`,
    `   ${curl} https://${host}:${cfg.csePort}/v1/privilegedunwrap -d "{\\"authentication\\":\\"$ADMIN_AUTHN\\",\\"wrapped_key\\":\\"$WRAPPED\\",\\"resource_name\\":\\"${DEMO_RESOURCE}\\",\\"reason\\":\\"demo\\"}"`,
    '   every other method (digest, privilegedwrap, wrapprivatekey, privatekeysign, privatekeydecrypt, delegate): apps/cse/README.md',
  ].join('\n');
  out(human, {
    testingOnly: true,
    dir,
    config,
    kaclsUrl,
    caFile: ca,
    start: `POLYKMS_CSE_CONFIG=${config} pnpm start`,
    user: DEMO_USER,
    admin: DEMO_ADMIN,
    resourceName: DEMO_RESOURCE,
    tokens,
    dek,
    minutes,
  });
  return 0;
}

function throwUsage(m: string): never {
  throw new UsageError(m);
}
