import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { CseConfigFile } from '@polykms/cse';
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
];

/** `polykms cse config ...`: edits the JSON file, validated with the same schema the KACLS loads it with. */
export async function cseCommand(key: string, v: Values, out: (human: string, data: unknown) => void): Promise<number> {
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
    if (!existsSync(file)) throw new UsageError(`${file} does not exist; create it with: polykms cse config init --kacls-url https://... --config ${file}`);
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
      return save({ kaclsUrl: need('kacls-url'), identityProviders: [], authorizationIssuers: [], privilegedUsers: [], allowGuests: false, perimeters: {}, peers: [] }, 'configuration created');
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
      if (!Object.keys(patch).length) throw new UsageError('cse config set needs at least one of --kacls-url, --name, --instance-name, --allow-guests, --owner-domain, --clock-skew');
      return save({ ...doc, ...patch } as CseConfigFile, `set ${Object.keys(patch).join(', ')}`);
    }
    case 'cse config add-idp': {
      const doc = read();
      const audiences = (v.audience as string[] | undefined) ?? [];
      if (!audiences.length) throw new UsageError('cse config add-idp needs at least one --audience (the IdP client ids)');
      const issuer = need('issuer');
      return save({ ...doc, identityProviders: push(doc.identityProviders, { issuer, jwksUri: need('jwks-uri'), audiences }, (p) => p.issuer === issuer, `identity provider ${issuer}`) }, `identity provider ${issuer} added`);
    }
    case 'cse config add-issuer': {
      const doc = read();
      const issuer = need('issuer');
      const application = str('application') as 'drive' | undefined;
      return save(
        { ...doc, authorizationIssuers: push(doc.authorizationIssuers, { issuer, jwksUri: need('jwks-uri'), ...(application ? { application } : {}) }, (p) => p.issuer === issuer, `authorization issuer ${issuer}`) },
        `authorization issuer ${issuer} added`,
      );
    }
    case 'cse config add-privileged-user': {
      const doc = read();
      const email = need('email');
      return save({ ...doc, privilegedUsers: push(doc.privilegedUsers, email, (e) => e.toLowerCase() === email.toLowerCase(), email) }, `${email} may call the privileged methods`);
    }
    case 'cse config add-peer': {
      const doc = read();
      const url = need('url');
      const jwksUri = str('jwks-uri');
      const caFile = str('ca-file');
      return save({ ...doc, peers: push(doc.peers, { url, ...(jwksUri ? { jwksUri } : {}), ...(caFile ? { caFile } : {}) }, (p) => p.url.replace(/\/+$/, '') === url.replace(/\/+$/, ''), `peer ${url}`) }, `peer KACLS ${url} added`);
    }
    default:
      throw new UsageError(`unknown command '${key}'`);
  }
}

function throwUsage(m: string): never {
  throw new UsageError(m);
}
