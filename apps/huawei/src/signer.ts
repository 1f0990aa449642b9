import { hash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Huawei's AK/SK request signature, `SDK-HMAC-SHA256` (huawei-kms.md §6.2, huawei-sdk-wire.md §4):
 *   CanonicalRequest = METHOD \n CanonicalURI (always ending in "/") \n CanonicalQuery \n
 *                      lower(name):value \n ... \n SignedHeaders \n hex(sha256(body))
 *   StringToSign     = "SDK-HMAC-SHA256" \n X-Sdk-Date \n hex(sha256(CanonicalRequest))
 *   Signature        = hex(HMAC-SHA256(SK, StringToSign))
 */
export const ALGORITHM = 'SDK-HMAC-SHA256';
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** RFC 3986 unreserved characters stay; everything else is %XX of its UTF-8 bytes, upper-case hex. */
export function uriEncode(s: string): string {
  return Array.from(Buffer.from(s, 'utf8'))
    .map((b) =>
      /[A-Za-z0-9_.~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`,
    )
    .join('');
}

const safeDecode = (s: string) => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};

/**
 * The canonical URIs a client may have signed for a received path: the Node SDK encodes each segment
 * as it is (so `%20` becomes `%2520`), the published algorithm and Python decode first (quirk 6).
 */
export function canonicalUris(rawPath: string): string[] {
  const asIs = rawPath.split('/').map(uriEncode).join('/');
  const decoded = rawPath
    .split('/')
    .map((s) => uriEncode(safeDecode(s)))
    .join('/');
  const slash = (p: string) => (p.endsWith('/') ? p : `${p}/`);
  return [...new Set([slash(decoded), slash(asIs)])];
}

/** Keys sorted, keys and values decoded then encoded, `k=v` joined by `&`; "" without a query. */
export function canonicalQuery(rawQuery: string): string {
  if (!rawQuery) return '';
  const pairs = rawQuery
    .split('&')
    .filter((p) => p !== '')
    .map((p) => {
      const i = p.indexOf('=');
      const k = safeDecode((i < 0 ? p : p.slice(0, i)).replace(/\+/g, ' '));
      const v = i < 0 ? '' : safeDecode(p.slice(i + 1).replace(/\+/g, ' '));
      return [uriEncode(k), uriEncode(v)] as const;
    });
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

export interface SigningInput {
  method: string;
  canonicalUri: string;
  canonicalQuery: string;
  /** Signed header names, lower-case, in the client's order (they are sorted here). */
  signedHeaders: string[];
  header: (name: string) => string | undefined;
  /** hex sha256 of the body, or UNSIGNED-PAYLOAD. */
  payloadHash: string;
}

export function canonicalRequest(i: SigningInput): string {
  const names = [...i.signedHeaders].map((h) => h.toLowerCase()).sort();
  const headers = names.map((n) => `${n}:${i.header(n) ?? ''}\n`).join('');
  return [i.method.toUpperCase(), i.canonicalUri, i.canonicalQuery, headers, names.join(';'), i.payloadHash].join('\n');
}

/** With `scope` (the `Credential=` form), the scope is a line of its own, as in AWS SigV4. */
export function stringToSign(sdkDate: string, canonical: string, scope?: string): string {
  return [ALGORITHM, sdkDate, ...(scope === undefined ? [] : [scope]), hash('sha256', canonical, 'hex')].join('\n');
}

export const signString = (sk: string | Uint8Array, s: string) => createHmac('sha256', sk).update(s).digest('hex');

const hmac = (key: string | Uint8Array, data: string) => createHmac('sha256', key).update(data).digest();

/**
 * The `Credential=` form's signing key (gophertelekomcloud's signer, used by the Open Telekom Cloud
 * Terraform provider): "SDK" + SK, then HMACed with each part of the scope in turn.
 */
export const scopedSigningKey = (sk: string | Uint8Array, scope: CredentialScope) =>
  hmac(hmac(hmac(hmac(Buffer.concat([Buffer.from('SDK'), Buffer.from(sk)]), scope.date), scope.region), scope.service), 'sdk_request');

export const payloadHash = (body: Uint8Array | undefined, contentSha256?: string) =>
  contentSha256 === 'UNSIGNED-PAYLOAD' ? contentSha256 : body && body.length ? hash('sha256', body, 'hex') : EMPTY_SHA256;

export interface CredentialScope {
  /** yyyymmdd, the day of X-Sdk-Date. */
  date: string;
  region: string;
  service: string;
  /** As written in the header: date/region/service/sdk_request. */
  text: string;
}

export interface ParsedAuthorization {
  access: string;
  signedHeaders: string[];
  signature: string;
  /** The `Credential=<AK>/<yyyymmdd>/<region>/<service>/sdk_request` form only. */
  scope?: CredentialScope;
}

/**
 * `SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b, Signature=hex`, or the older
 * `Credential=AK/yyyymmdd/region/service/sdk_request` form; undefined when it is neither.
 */
export function parseAuthorization(h: string): ParsedAuthorization | undefined {
  const m = /^SDK-HMAC-SHA256\s+(.*)$/s.exec(h.trim());
  if (!m) return undefined;
  const parts = new Map<string, string>();
  for (const p of m[1]!.split(',')) {
    const i = p.indexOf('=');
    if (i > 0) parts.set(p.slice(0, i).trim(), p.slice(i + 1).trim());
  }
  const credential = parts.get('Credential');
  const m2 = credential === undefined ? undefined : /^([^/]+)\/(\d{8})\/([^/]*)\/([^/]*)\/sdk_request$/.exec(credential);
  if (credential !== undefined && !m2) return undefined;
  const access = m2 ? m2[1] : parts.get('Access');
  const signed = parts.get('SignedHeaders');
  const signature = parts.get('Signature');
  if (!access || !signed || !signature) return undefined;
  return {
    ...(m2 ? { scope: { date: m2[2]!, region: m2[3]!, service: m2[4]!, text: credential!.slice(access.length + 1) } } : {}),
    access,
    signedHeaders: signed
      .split(';')
      .filter(Boolean)
      .map((s) => s.toLowerCase()),
    signature: signature.toLowerCase(),
  };
}

/** Constant-time comparison of two hex signatures. */
export function signatureMatches(expected: string, got: string): boolean {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(got, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** `YYYYMMDDTHHMMSSZ` -> Date, or undefined. */
export function parseSdkDate(s: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return undefined;
  const d = new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
  return Number.isNaN(d.getTime()) ? undefined : d;
}

export const formatSdkDate = (d: Date) =>
  d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
