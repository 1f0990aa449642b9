import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { PerimeterRuleSchema } from './perimeter.ts';

/**
 * The KACLS configuration: a JSON file named by POLYKMS_CSE_CONFIG (see README.md), edited with
 * `polykms cse config ...`, validated by this one schema on load and before every CLI write.
 */
export const GOOGLE_AUTHORIZATION_AUDIENCE = 'cse-authorization';
export const MIGRATION_AUDIENCE = 'kacls-migration';
export const GOOGLE_CSE_ORIGIN = 'https://client-side-encryption.google.com';

const httpsUrl = (what: string) =>
  z
    .string()
    .min(1)
    .max(2048)
    .refine((u) => URL.canParse(u) && new URL(u).protocol === 'https:' && !new URL(u).search && !new URL(u).hash && !new URL(u).username, {
      message: `${what} must be an https:// URL without query, fragment or credentials`,
    });

const jwksUri = z
  .string()
  .min(1)
  .max(2048)
  .refine((u) => URL.canParse(u) && ['https:', 'file:'].includes(new URL(u).protocol), {
    message: 'jwksUri must be https://... or file:///absolute/path',
  });

const email = z.string().regex(/^[^\s@]+@[^\s@]+$/, { message: 'must be an email address' });

export const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;

export const IdentityProviderSchema = z.strictObject({
  issuer: z.string().min(1, { message: 'issuer is required' }),
  jwksUri,
  audiences: z.array(z.string().min(1)).min(1, { message: 'list every accepted audience (the IdP client ids: web, desktop, mobile)' }),
  algorithms: z.array(z.enum(ALGORITHMS)).min(1).optional(),
  name: z.string().optional(),
});

export const APPLICATIONS = ['drive', 'meet', 'calendar', 'gmail', 'migration', 'other'] as const;
export const AuthorizationIssuerSchema = z.strictObject({
  issuer: z.string().min(1, { message: 'issuer is required' }),
  jwksUri,
  application: z.enum(APPLICATIONS).optional(),
});

export const PeerSchema = z.strictObject({
  /** The other KACLS's base URL: `rewrap` may call `<url>/privilegedunwrap`, and its migration JWTs are accepted here. */
  url: httpsUrl('peers[].url'),
  /** Where its signing keys are; default `<url>/certs`. */
  jwksUri: jwksUri.optional(),
  /** PEM file of a CA to trust for this peer's TLS (a private PKI); the system roots otherwise. */
  caFile: z.string().min(1).optional(),
});

export const CseConfigSchema = z.strictObject({
  /** The URL Workspace is configured with, e.g. https://kacls.example.com/v1; `kacls_url` must equal it. */
  kaclsUrl: httpsUrl('kaclsUrl'),
  /** Shown in /status. */
  name: z.string().max(256).optional(),
  /** The polykms tenant this KACLS maps to (dialect 'cse'); default: kaclsUrl. */
  instance: z.string().min(1).max(256).optional(),
  identityProviders: z.array(IdentityProviderSchema).default([]),
  authorizationIssuers: z.array(AuthorizationIssuerSchema).default([]),
  authorizationAudience: z.string().min(1).default(GOOGLE_AUTHORIZATION_AUDIENCE),
  /** Emails allowed to call privilegedwrap, privilegedunwrap, privilegedprivatekeydecrypt and wrapprivatekey. */
  privilegedUsers: z.array(email).default([]),
  /** Accept authorization tokens whose email_type is google-visitor or customer-idp. */
  allowGuests: z.boolean().default(false),
  /** When set, a `kacls_owner_domain` claim must equal it. */
  ownerDomain: z.string().min(1).optional(),
  perimeters: z.record(z.string().min(1).max(128), PerimeterRuleSchema).default({}),
  peers: z.array(PeerSchema).default([]),
  clockSkewSeconds: z.number().int().min(0).max(300).default(60),
  corsOrigins: z.array(z.string().min(1)).default([GOOGLE_CSE_ORIGIN]),
});

export type CseConfigFile = z.input<typeof CseConfigSchema>;
export type CseConfig = z.output<typeof CseConfigSchema> & {
  /** False when POLYKMS_CSE_CONFIG is not set: /status answers, every token is refused. */
  enabled: boolean;
  file?: string | undefined;
};

/** Without a config: /status only. The URL is never matched, since no token is ever verified. */
export const DISABLED_CONFIG: CseConfig = {
  ...CseConfigSchema.parse({ kaclsUrl: 'https://kacls.invalid' }),
  enabled: false,
};

/** One line per problem: `identityProviders.0.jwksUri: jwksUri must be https://... or file:///absolute/path`. */
export function describeConfigIssues(e: z.ZodError): string {
  return e.issues
    .map((i) => {
      const path = i.path.join('.') || '(top level)';
      if (i.code === 'unrecognized_keys') return `${path}: unknown field(s) ${i.keys.join(', ')}`;
      return `${path}: ${i.message}`;
    })
    .join('\n');
}

export function parseCseConfig(json: unknown, source = 'CSE configuration'): CseConfig {
  const r = CseConfigSchema.safeParse(json);
  if (!r.success) throw new Error(`${source} is not valid:\n${describeConfigIssues(r.error)}`);
  const names = new Set<string>();
  for (const p of r.data.peers) {
    const u = normalizeUrl(p.url);
    if (names.has(u)) throw new Error(`${source} is not valid:\npeers: ${p.url} is listed twice`);
    names.add(u);
  }
  return { ...r.data, enabled: true };
}

/** Reads and validates the file; `undefined` gives the disabled configuration. */
export async function loadCseConfig(path: string | undefined): Promise<CseConfig> {
  if (path === undefined || path === '') return DISABLED_CONFIG;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read the CSE configuration ${path} (POLYKMS_CSE_CONFIG): ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`the CSE configuration ${path} is not JSON: ${(e as Error).message}`);
  }
  return { ...parseCseConfig(json, `the CSE configuration ${path}`), file: path };
}

/** The comparable form of a KACLS URL: scheme and host lower-cased, default port and trailing slashes dropped. */
export function normalizeUrl(u: string): string {
  const url = new URL(u);
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
}

export const tenantExternalId = (c: CseConfig) => c.instance ?? normalizeUrl(c.kaclsUrl);
