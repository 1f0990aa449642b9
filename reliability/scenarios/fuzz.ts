/**
 * Property-based fuzzing over real HTTPS, every endpoint of every dialect: random and mutated bodies,
 * wrong types, huge and empty fields, invalid UTF-8 and base64, unknown fields, wrong content types,
 * truncated bodies, mutated ciphertexts and tokens, wrong methods, odd paths and query strings; and a
 * few raw-wire inputs an HTTP client refuses to send (a body shorter than its Content-Length, broken
 * chunked framing). The property: every answer comes within 10 s, is never a 5xx, and every 4xx is
 * the dialect's own error body; the process stays up and keeps serving.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { Client, NoAnswer, rawTls, type Reply, type Send, type TlsCreds } from '../lib/http.ts';
import { isOvhError } from '../lib/ovh.ts';
import { P1, openWorld, type World } from '../lib/world.ts';
import { countAnswer, fail } from '../lib/tally.ts';
import { pool, preview, rng, type Ctx, type Scenario } from '../lib/scenario.ts';
import { generateKeyPairDetached } from '@polykms/core';

/** Any string as a path segment; encodeURIComponent throws on a lone surrogate, so then every UTF-8 byte is escaped. */
function pathSegment(v: string): string {
  try {
    return encodeURIComponent(v);
  } catch {
    return [...Buffer.from(v, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
  }
}

const NAME = 'fuzz';

/** One endpoint and a well-formed request for it, which the mutators start from. */
interface Target {
  dialect: 'ovh' | 'huawei' | 'cse';
  method: string;
  /** Path variants (e.g. OVH's legacy and /api/{okmsId} forms). */
  paths: string[];
  body?: Record<string, unknown> | undefined;
  query?: Record<string, string> | undefined;
  headers?: Record<string, string> | undefined;
  /** Replace this path segment to fuzz the path (a key id). */
  pathParam?: string | undefined;
}

interface Case {
  target: Target;
  label: string;
  send: Send;
}

const JSON_CT = { 'content-type': 'application/json' };

// ---------------------------------------------------------------- value generators

const weirdStrings = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom(
    '',
    ' ',
    '\u0000',
    '\ud800',
    '\udfff',
    '%00',
    '../../etc/passwd',
    '${jndi:ldap://x}',
    "' OR 1=1 --",
    'null',
    'true',
    '-1',
    '1e309',
    'NaN',
    '__proto__',
    'constructor',
    '😀'.repeat(50),
    '\u202e',
    'A'.repeat(300),
  ),
);

/** A value of some other JSON type than a field's (or the right type with a bad value). */
const wrongValues = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 5 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 4 }),
  weirdStrings,
  fc.constantFrom(Number.MAX_SAFE_INTEGER, -0, 2 ** 53 + 2, 1e308, -1e308, 5e-324, 4096, 4097, 65536, -1, 0, 7, 256, 1.5),
);

/** Near misses of standard base64. */
const badBase64 = fc.oneof(
  fc.constantFrom(
    'A',
    'AA',
    'AAA',
    'AAAA=',
    'AA==AA==',
    '====',
    '!!!!',
    'AAAA\n',
    ' AAAA',
    'AA-_',
    'QUJD\u0000',
    'Zm9v YmFy',
    'Zm9v\r\nYmFy',
    'ﾃｽﾄ',
    'AAAAA===',
    '%41%41',
    'data:;base64,AAAA',
  ),
  fc.string({ maxLength: 64 }),
  fc.string({ unit: 'binary', maxLength: 32 }),
);

/** Mutations of a valid string (ciphertexts, tokens, key ids): flips, cuts, extensions, segment swaps. */
const mutateString = (valid: string) =>
  fc.oneof(
    fc.tuple(fc.nat(), fc.constantFrom('A', '_', '-', '.', '=', '/', '+', '!', '\u00e9', '\u0000', '0')).map(([i, ch]) => {
      if (!valid.length) return ch;
      const k = i % valid.length;
      return valid.slice(0, k) + ch + valid.slice(k + 1);
    }),
    fc.nat().map((i) => valid.slice(0, valid.length ? i % valid.length : 0)),
    weirdStrings.map((s) => valid + s),
    fc.constant(valid.split('').reverse().join('')),
    fc.constant(valid.toUpperCase()),
    fc.constant(valid.repeat(3)),
    // Dotted formats (JWE, JWS, JWT): a segment replaced by base64url of random JSON, or dropped, or doubled.
    fc.tuple(fc.nat(), fc.jsonValue({ maxDepth: 3 })).map(([i, j]) => {
      const parts = valid.split('.');
      parts[i % parts.length] = Buffer.from(JSON.stringify(j) ?? 'null').toString('base64url');
      return parts.join('.');
    }),
    fc.nat().map((i) => {
      const parts = valid.split('.');
      parts.splice(i % parts.length, 1);
      return parts.join('.');
    }),
    fc.constant(`${valid}.${valid}`),
    // A header that decodes to something close to the real one, with one field given a weird value.
    fc.tuple(fc.string({ maxLength: 12 }), wrongValues).map(([k, v]) => {
      const parts = valid.split('.');
      let h: Record<string, unknown> = {};
      try {
        h = JSON.parse(Buffer.from(parts[0] ?? '', 'base64url').toString('utf8'));
      } catch {
        h = {};
      }
      const keys = Object.keys(h);
      const field = keys.length && k.length % 2 === 0 ? keys[k.length % keys.length]! : k;
      parts[0] = Buffer.from(JSON.stringify({ ...h, [field]: v })).toString('base64url');
      return parts.join('.');
    }),
  );

const CONTENT_TYPES = [
  undefined,
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=xyz',
  'application/json; charset=utf-16',
  'application/json; charset=latin1',
  'application/xml',
  'APPLICATION/JSON',
  'application/json;;;',
  'application/jsonx',
  'application/vnd.api+json',
  '*/*',
  'text/json',
];

/** Bytes that are not UTF-8, put inside a JSON string. */
const INVALID_UTF8 = [
  Buffer.from([0xff]),
  Buffer.from([0xc3, 0x28]),
  Buffer.from([0xed, 0xa0, 0x80]),
  Buffer.from([0xf8, 0x88, 0x80, 0x80, 0x80]),
  Buffer.from([0xe2, 0x82]),
  Buffer.from([0xc0, 0xaf]),
  Buffer.from([0xfe, 0xfe, 0xff, 0xff]),
];

// ---------------------------------------------------------------- mutators

const withQuery = (path: string, q: Record<string, string> | undefined) => {
  if (!q || !Object.keys(q).length) return path;
  const u = new URLSearchParams(q);
  return `${path}${path.includes('?') ? '&' : '?'}${u.toString()}`;
};

function caseArb(t: Target): fc.Arbitrary<Case> {
  const body = t.body;
  const fields = body ? Object.keys(body) : [];
  const path = fc.constantFrom(...t.paths);
  const send = (p: string, extra: Partial<Send>, q = t.query): Send => ({
    method: t.method,
    path: withQuery(p, q),
    ...extra,
    headers: { ...(t.headers ?? {}), ...(extra.headers ?? {}) },
  });
  const json = (v: unknown) => ({ raw: JSON.stringify(v) ?? 'null', headers: JSON_CT });
  const mk = (label: string, a: fc.Arbitrary<Send>) => a.map((send) => ({ target: t, label, send }));
  const arbs: fc.Arbitrary<Case>[] = [];
  // Valid as it is (the baseline must be served) and random JSON documents of every shape.
  arbs.push(
    mk(
      'template',
      path.map((p) => send(p, body ? json(body) : {})),
    ),
  );
  arbs.push(
    mk(
      'random JSON',
      fc.tuple(path, fc.jsonValue({ maxDepth: 4 })).map(([p, v]) => send(p, json(v))),
    ),
  );
  arbs.push(
    mk(
      'empty body',
      fc.tuple(path, fc.constantFrom('', ' ', '{}', '[]', 'null', '""', '0')).map(([p, raw]) => send(p, { raw, headers: JSON_CT })),
    ),
  );
  arbs.push(
    mk(
      'deep nesting',
      fc.tuple(path, fc.constantFrom(100, 1000, 10_000, 30_000), fc.boolean()).map(([p, n, arr]) =>
        send(p, {
          raw: arr ? '['.repeat(n) + ']'.repeat(n) : `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`,
          headers: JSON_CT,
        }),
      ),
    ),
  );
  arbs.push(
    mk(
      'garbage bytes',
      fc.tuple(path, fc.uint8Array({ maxLength: 300 })).map(([p, b]) => send(p, { raw: Buffer.from(b), headers: JSON_CT })),
    ),
  );
  arbs.push(
    mk(
      'huge body',
      fc
        .tuple(path, fc.constantFrom(70_000, 300_000, 2_000_000))
        .map(([p, n]) => send(p, { raw: JSON.stringify({ ...(body ?? {}), pad: 'A'.repeat(n) }), headers: JSON_CT })),
    ),
  );
  arbs.push(
    mk(
      'content type',
      fc
        .tuple(path, fc.constantFrom(...CONTENT_TYPES))
        .map(([p, ct]) => send(p, { raw: JSON.stringify(body ?? {}), headers: ct ? { 'content-type': ct } : {} })),
    ),
  );
  arbs.push(
    mk(
      'wrong method',
      fc
        .tuple(path, fc.constantFrom('GET', 'PUT', 'PATCH', 'DELETE', 'POST', 'OPTIONS', 'HEAD'))
        .map(([p, m]) => ({ ...send(p, m === 'GET' || m === 'HEAD' ? {} : json(body ?? {})), method: m })),
    ),
  );
  if (t.pathParam) {
    const param = t.pathParam;
    arbs.push(
      mk(
        'path',
        fc
          .tuple(path, fc.oneof(weirdStrings, mutateString(param), fc.uuid(), fc.constant(param.toUpperCase())))
          .map(([p, v]) => send(p.replace(param, pathSegment(v) || '%20'), body ? json(body) : {})),
      ),
    );
  }
  if (t.query) {
    const keys = Object.keys(t.query);
    arbs.push(
      mk(
        'query',
        fc
          .tuple(
            path,
            fc.constantFrom(...keys),
            fc.oneof(weirdStrings, fc.integer().map(String), fc.constantFrom('', '1e3', '0x10', ' 10', '10.0', '-0', 'Infinity')),
          )
          .map(([p, k, v]) => send(p, body ? json(body) : {}, { ...t.query, [k]: v })),
      ),
    );
  }
  if (fields.length && body) {
    const field = fc.constantFrom(...fields);
    arbs.push(
      mk(
        'wrong type',
        fc.tuple(path, field, wrongValues).map(([p, f, v]) => send(p, json({ ...body, [f]: v }))),
      ),
    );
    arbs.push(
      mk(
        'missing field',
        fc.tuple(path, field).map(([p, f]) => send(p, json(Object.fromEntries(Object.entries(body).filter(([k]) => k !== f))))),
      ),
    );
    arbs.push(
      mk(
        'empty field',
        fc.tuple(path, field).map(([p, f]) => send(p, json({ ...body, [f]: '' }))),
      ),
    );
    arbs.push(
      mk(
        'huge field',
        fc
          .tuple(path, field, fc.constantFrom(4096, 4097, 5465, 8193, 60_000, 70_000), fc.constantFrom('A', 'é', '\\u0000', '😀', '0'))
          .map(([p, f, n, ch]) =>
            send(p, {
              raw: JSON.stringify({ ...body, [f]: '' }).replace(`"${f}":""`, `"${f}":"${ch.repeat(Math.ceil(n / ch.length))}"`),
              headers: JSON_CT,
            }),
          ),
      ),
    );
    arbs.push(
      mk(
        'bad base64',
        fc.tuple(path, field, badBase64).map(([p, f, v]) => send(p, json({ ...body, [f]: v }))),
      ),
    );
    arbs.push(
      mk(
        'unknown field',
        fc
          .tuple(path, fc.string({ maxLength: 16 }), fc.jsonValue({ maxDepth: 2 }))
          .map(([p, k, v]) => send(p, json({ ...body, [k || 'extra']: v }))),
      ),
    );
    arbs.push(
      mk(
        'duplicate key',
        fc.tuple(path, field, wrongValues).map(([p, f, v]) =>
          send(p, {
            raw: JSON.stringify(body).replace(/}$/, `,${JSON.stringify(f)}:${JSON.stringify(v) ?? 'null'}}`),
            headers: JSON_CT,
          }),
        ),
      ),
    );
    arbs.push(
      mk(
        'invalid UTF-8',
        fc.tuple(path, field, fc.constantFrom(...INVALID_UTF8)).map(([p, f, bad]) => {
          const text = JSON.stringify({ ...body, [f]: 'XXBADXX' });
          const i = text.indexOf('XXBADXX');
          return send(p, {
            raw: Buffer.concat([Buffer.from(text.slice(0, i)), bad, Buffer.from(text.slice(i + 7))]),
            headers: JSON_CT,
          });
        }),
      ),
    );
    arbs.push(
      mk(
        'truncated JSON',
        fc.tuple(path, fc.nat()).map(([p, n]) => {
          const text = JSON.stringify(body);
          return send(p, { raw: text.slice(0, n % text.length), headers: JSON_CT });
        }),
      ),
    );
    arbs.push(
      mk(
        'flipped bytes',
        fc.tuple(path, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 })).map(([p, flips]) => {
          const b = Buffer.from(JSON.stringify(body));
          for (const [i, v] of flips) b[i % b.length] = v;
          return send(p, { raw: b, headers: JSON_CT });
        }),
      ),
    );
    // Each string field with a valid value, mutated (ciphertexts, tokens, key ids, signatures).
    const stringFields = fields.filter((f) => typeof body[f] === 'string' && (body[f] as string).length > 0);
    if (stringFields.length)
      arbs.push(
        mk(
          'mutated value',
          fc
            .constantFrom(...stringFields)
            .chain((f) => fc.tuple(path, fc.constant(f), mutateString(body[f] as string)))
            .map(([p, f, v]) => send(p, json({ ...body, [f]: v }))),
        ),
      );
  }
  return fc.oneof(...arbs);
}

// ---------------------------------------------------------------- structural sweep

/**
 * Inputs random sampling reaches too rarely, listed rather than drawn: a compact JOSE string (JWE,
 * JWS, JWT) whose JSON segments, or one of their members, are replaced by a value of every JSON type,
 * oddly encoded, or huge; wrong part counts and characters outside base64url; and every node of a
 * JSON body replaced by a value of another type. (A JWE header of `null` was a 500 the random inputs
 * never hit.)
 */
const SHAPES: unknown[] = [null, [], {}, 0, -1, 1.5, 1e300, '', 'x', true];
const NODE_SHAPES: unknown[] = [null, [], {}, 0, 'x', true];

const b64u = (b: string | Buffer) => Buffer.from(b).toString('base64url');

/** A base64url segment that decodes to a JSON object, or undefined. */
function jsonObject(seg: string): Record<string, unknown> | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(seg)) return undefined;
  try {
    const v = JSON.parse(Buffer.from(seg, 'base64url').toString('utf8'));
    return v && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

const isJose = (v: unknown): v is string => typeof v === 'string' && [3, 5].includes(v.split('.').length) && !!jsonObject(v.split('.')[0]!);

/** Signs any payload bytes as the token's issuer would (CSE's test issuers), so the checks after verification see it too. */
type Resign = (token: string, payload: Buffer) => Promise<string | undefined>;

interface Mutation {
  /** 0: the segment itself or the token's framing; 1: one member. */
  tier: 0 | 1;
  label: string;
  value: string;
}

async function tokenMutations(token: string, resign?: Resign): Promise<Mutation[]> {
  const parts = token.split('.');
  const out: Mutation[] = [];
  const at = (i: number, seg: string) => parts.map((p, j) => (j === i ? seg : p)).join('.');
  for (let i = 0; i < parts.length; i++) {
    const obj = jsonObject(parts[i]!);
    if (!obj) continue;
    const name = i === 0 ? 'header' : `part ${i}`;
    // A JWT's claims set is signed: re-signed, the mutation also reaches what follows verification.
    const variant = async (bytes: Buffer) =>
      i === 1 && parts.length === 3 && resign ? ((await resign(token, bytes)) ?? at(i, b64u(bytes))) : at(i, b64u(bytes));
    const text = JSON.stringify(obj);
    const put = async (tier: 0 | 1, label: string, bytes: Buffer) =>
      out.push({ tier, label: `${name} ${label}`, value: await variant(bytes) });
    for (const v of [...SHAPES, [obj], text]) await put(0, `= ${preview(JSON.stringify(v), 40)}`, Buffer.from(JSON.stringify(v)));
    for (const raw of ['', '{', 'nul', `${text}x`, `\ufeff${text}`, ` ${text} `, text.replace(/"/g, "'")])
      await put(0, `= text ${preview(raw, 30)}`, Buffer.from(raw));
    await put(0, 'as UTF-16', Buffer.from(text, 'utf16le'));
    await put(
      0,
      'with invalid UTF-8',
      Buffer.concat([Buffer.from(`${text.slice(0, -1)},"z":"`), Buffer.from([0xff, 0xc3, 0x28]), Buffer.from('"}')]),
    );
    for (const k of Object.keys(obj)) {
      const orig = obj[k];
      const alt =
        typeof orig === 'number'
          ? String(orig)
          : typeof orig === 'string' && orig !== '' && !Number.isNaN(Number(orig))
            ? Number(orig)
            : undefined;
      for (const v of [
        null,
        [],
        {},
        0,
        1e300,
        '',
        true,
        [orig],
        'A'.repeat(3000),
        `${String(orig)}\u0000`,
        ...(alt === undefined ? [] : [alt]),
      ])
        await put(1, `${k} = ${preview(JSON.stringify(v), 40)}`, Buffer.from(JSON.stringify({ ...obj, [k]: v })));
      await put(1, `without ${k}`, Buffer.from(JSON.stringify(Object.fromEntries(Object.entries(obj).filter(([x]) => x !== k)))));
      await put(1, `${k} twice`, Buffer.from(`${text.slice(0, -1)},${JSON.stringify(k)}:null}`));
    }
  }
  // Framing: part counts, padding, the standard alphabet, characters outside base64url.
  for (let n = 1; n <= 7; n++)
    if (n !== parts.length)
      out.push({
        tier: 0,
        label: `${n} parts`,
        value: Array.from({ length: n }, (_, j) => parts[j % parts.length]).join('.'),
      });
  out.push({ tier: 0, label: 'header padded', value: at(0, `${parts[0]}==`) });
  out.push({
    tier: 0,
    label: 'header in standard base64',
    value: at(0, Buffer.from(parts[0]!, 'base64url').toString('base64')),
  });
  for (let i = 0; i < parts.length; i++)
    for (const ch of ['+', '=', ' ', '\u00e9']) {
      const p = parts[i]!;
      const h = p.length >> 1;
      out.push({ tier: 0, label: `part ${i} with '${ch}'`, value: at(i, p.slice(0, h) + ch + p.slice(h)) });
    }
  return out;
}

/** Every node of a body, replaced by values of other JSON types (the whole body itself is the random inputs'). */
function shapeMutations(body: Record<string, unknown>): { label: string; body: unknown }[] {
  const out: { label: string; body: unknown }[] = [];
  const kind = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
  const walk = (node: unknown, path: (string | number)[]) => {
    const children: [string | number, unknown][] = Array.isArray(node)
      ? node.map((v, i) => [i, v])
      : node && typeof node === 'object'
        ? Object.entries(node)
        : [];
    for (const [k, v] of children) {
      const here = [...path, k];
      for (const s of [...NODE_SHAPES, ...(v && typeof v === 'object' ? [[v]] : [])]) {
        if (kind(s) === kind(v) && !(Array.isArray(s) && s.length)) continue;
        out.push({ label: `${here.join('.')} = ${preview(JSON.stringify(s), 30)}`, body: replaceAt(body, here, s) });
      }
      walk(v, here);
    }
  };
  walk(body, []);
  return out;
}

function replaceAt(v: unknown, path: (string | number)[], value: unknown): unknown {
  if (!path.length) return value;
  const [k, ...rest] = path;
  if (Array.isArray(v)) return v.map((x, i) => (i === k ? replaceAt(x, rest, value) : x));
  return { ...(v as Record<string, unknown>), [k!]: replaceAt((v as Record<string, unknown>)[k!], rest, value) };
}

/** How much of the sweep a profile sends. The first target carrying a token field gets all of its mutations. */
const SWEEP: Record<Ctx['profile']['name'], { tokenSample: number; shapesPerTarget: number }> = {
  ci: { tokenSample: 6, shapesPerTarget: 6 },
  short: { tokenSample: 12, shapesPerTarget: 12 },
  full: { tokenSample: Infinity, shapesPerTarget: Infinity },
};

async function sweepCases(targets: Target[], profile: Ctx['profile'], seed: number, resign?: Resign): Promise<Case[]> {
  const r = rng(seed);
  const sample = <T>(xs: T[], n: number): T[] => {
    if (xs.length <= n) return xs;
    const a = [...xs];
    for (let i = a.length - 1; i > 0; i--) {
      const j = r.int(0, i);
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    return a.slice(0, n);
  };
  const budget = SWEEP[profile.name];
  const out: Case[] = [];
  const swept = new Set<string>();
  let turn = 0;
  const mk = (t: Target, label: string, body: unknown): Case => ({
    target: t,
    label: `sweep: ${label}`,
    send: {
      method: t.method,
      path: withQuery(t.paths[turn++ % t.paths.length]!, t.query),
      raw: JSON.stringify(body),
      headers: { ...(t.headers ?? {}), ...JSON_CT },
    },
  });
  for (const t of targets) {
    if (!t.body) continue;
    for (const [f, v] of Object.entries(t.body)) {
      if (!isJose(v)) continue;
      const all = await tokenMutations(v, resign);
      const first = !swept.has(`${t.dialect} ${f}`);
      swept.add(`${t.dialect} ${f}`);
      // Elsewhere the same field is parsed by the same code: a sample, the segments' own shapes first.
      const chosen = first
        ? all
        : [
            ...sample(
              all.filter((m) => m.tier === 0),
              Math.ceil(budget.tokenSample / 2),
            ),
            ...sample(
              all.filter((m) => m.tier === 1),
              Math.floor(budget.tokenSample / 2),
            ),
          ];
      for (const m of chosen) out.push(mk(t, `${f} ${m.label}`, { ...t.body, [f]: m.value }));
    }
    for (const m of sample(shapeMutations(t.body), budget.shapesPerTarget)) out.push(mk(t, `body ${m.label}`, m.body));
  }
  return out;
}

// ---------------------------------------------------------------- targets per dialect

async function ovhTargets(w: World): Promise<{ targets: Target[]; client: Client; creds: TlsCreds }> {
  const root = w.ovh.who.rootA!.client;
  const ok = async (method: string, path: string, json?: unknown) => {
    const r = await root.send({ method, path, json });
    if (r.status >= 300) throw new Error(`fuzz setup: OVH ${method} ${path} -> ${r.status} ${r.text}`);
    return r.json;
  };
  const aes = (await ok('POST', '/v1/servicekey', { name: 'fz-aes', type: 'oct', size: 256, operations: ['encrypt', 'decrypt'] }))
    .id as string;
  const ec = (await ok('POST', '/v1/servicekey', { name: 'fz-ec', type: 'EC', curve: 'P-256', operations: ['sign', 'verify'] }))
    .id as string;
  const victim = (
    await ok('POST', '/v1/servicekey', {
      name: 'fz-victim',
      type: 'oct',
      size: 256,
      operations: ['encrypt', 'decrypt'],
    })
  ).id as string;
  const ciphertext = (await ok('POST', `/v1/servicekey/${aes}/encrypt`, { plaintext: 'aGVsbG8=', context: 'ctx' })).ciphertext as string;
  const dk = (await ok('POST', `/v1/servicekey/${aes}/datakey`, { name: 'dk', size: 256 })).key as string;
  const sig = (await ok('POST', `/v1/servicekey/${ec}/sign`, { alg: 'ES256', message: 'aGVsbG8=' })).signature as string;
  const jws = (await ok('POST', `/v1/servicekey/${ec}/sign?format=jws`, { alg: 'ES256', message: 'aGVsbG8=' })).signature as string;
  const both = (p: string) => [p, `/api/${w.ovh.okms.A}${p}`];
  const T = (method: string, p: string, body?: Record<string, unknown>, extra: Partial<Target> = {}): Target => ({
    dialect: 'ovh',
    method,
    paths: both(p),
    body,
    ...extra,
  });
  const targets: Target[] = [
    T(
      'POST',
      '/v1/servicekey',
      { name: 'fz', type: 'oct', size: 256, operations: ['encrypt', 'decrypt'], context: 'c' },
      { query: { format: 'jwk' } },
    ),
    T('POST', '/v1/servicekey', {
      name: 'fz-imp',
      keys: [{ kty: 'oct', k: randomBytes(32).toString('base64url'), key_ops: ['encrypt', 'decrypt'] }],
    }),
    T('POST', '/v1/servicekey', { name: 'fz-ec', type: 'EC', curve: 'P-256', operations: ['sign', 'verify'] }),
    T('GET', '/v1/servicekey', undefined, { query: { max: '10', state: 'active', 'continuation-token': 'AAAA' } }),
    T('GET', `/v1/servicekey/${aes}`, undefined, { query: { format: 'jwk' }, pathParam: aes }),
    T('PATCH', `/v1/servicekey/${victim}`, { name: 'renamed' }, { pathParam: victim }),
    T('DELETE', `/v1/servicekey/${victim}`, undefined, { pathParam: victim }),
    T('POST', `/v1/servicekey/${victim}/activate`, undefined, { pathParam: victim }),
    T('POST', `/v1/servicekey/${victim}/deactivate`, { reason: 'unspecified' }, { pathParam: victim }),
    T('POST', `/v1/servicekey/${aes}/encrypt`, { plaintext: 'aGVsbG8=', context: 'ctx' }, { pathParam: aes }),
    T('POST', `/v1/servicekey/${aes}/decrypt`, { ciphertext, context: 'ctx' }, { pathParam: aes }),
    T('POST', `/v1/servicekey/${aes}/datakey`, { name: 'dk', size: 256 }, { pathParam: aes }),
    T('POST', `/v1/servicekey/${aes}/datakey/decrypt`, { key: dk }, { pathParam: aes }),
    T(
      'POST',
      `/v1/servicekey/${ec}/sign`,
      { alg: 'ES256', message: 'aGVsbG8=', isdigest: false },
      { query: { format: 'raw' }, pathParam: ec },
    ),
    T('POST', `/v1/servicekey/${ec}/verify`, { alg: 'ES256', message: 'aGVsbG8=', signature: sig }, { pathParam: ec }),
    T('POST', `/v1/servicekey/${ec}/verify`, { signature: jws }, { pathParam: ec }),
    T('GET', '/v1/random', undefined, { query: { length: '32' } }),
  ];
  const creds = await credsOf(w);
  return { targets, client: root, creds };
}

/** The OVH account credential's certificate, for raw TLS inputs. */
async function credsOf(w: World): Promise<TlsCreds> {
  const c = await w.admin.credential(w.ovh.okms.A, ['urn:v1:eu:identity:account:xx1111-ovh'], w.ca);
  return c;
}

async function huaweiTargets(w: World): Promise<{ targets: Target[]; client: Client; headers: Record<string, string> }> {
  const tok = w.huawei.who.adminP1!.token;
  const ok = async (verb: string, body: unknown) => {
    const r = await w.huawei.call(tok, verb, body);
    if (r.status >= 300) throw new Error(`fuzz setup: Huawei ${verb} -> ${r.status} ${r.text}`);
    return r.json;
  };
  const aes = (await ok('create-key', { key_alias: 'fz-aes' })).key_info.key_id as string;
  const rot = (await ok('create-key', { key_alias: 'fz-rot' })).key_info.key_id as string;
  const victim = (await ok('create-key', { key_alias: 'fz-victim' })).key_info.key_id as string;
  const ec = (await ok('create-key', { key_alias: 'fz-ec', key_spec: 'EC_P256', key_usage: 'SIGN_VERIFY' })).key_info.key_id as string;
  const ct = (await ok('encrypt-data', { key_id: aes, plain_text: 'hello', encryption_context: { a: '1' } })).cipher_text as string;
  const dk = await ok('create-datakey', { key_id: aes, datakey_length: '256' });
  const sig = (
    await ok('sign', {
      key_id: ec,
      message: Buffer.from('hello').toString('base64'),
      signing_algorithm: 'ECDSA_SHA_256',
      message_type: 'RAW',
    })
  ).signature as string;
  const headers = { 'X-Auth-Token': tok };
  const T = (verb: string, body?: Record<string, unknown>, extra: Partial<Target> = {}): Target => ({
    dialect: 'huawei',
    method: 'POST',
    paths: [`/v1.0/${P1}/kms/${verb}`],
    body,
    headers,
    ...extra,
  });
  const targets: Target[] = [
    T('create-key', {
      key_alias: 'fz-new',
      key_spec: 'AES_256',
      key_usage: 'ENCRYPT_DECRYPT',
      key_description: 'd',
      origin: 'kms',
      sequence: '919c82d4-8046-4722-9094-35c3c6524cff',
    }),
    T('describe-key', { key_id: aes }),
    T('list-keys', { limit: '10', marker: '', key_state: '2', key_spec: 'ALL' }),
    T('update-key-alias', { key_id: victim, key_alias: 'fz-renamed' }),
    T('update-key-description', { key_id: victim, key_description: 'changed' }),
    T('disable-key', { key_id: victim }),
    T('enable-key', { key_id: victim }),
    T('schedule-key-deletion', { key_id: victim, pending_days: '7' }),
    T('cancel-key-deletion', { key_id: victim }),
    T('encrypt-data', { key_id: aes, plain_text: 'hello', encryption_context: { a: '1' } }),
    T('decrypt-data', { cipher_text: ct, encryption_context: { a: '1' } }),
    T('create-datakey', { key_id: aes, datakey_length: '256', encryption_context: { a: '1' } }),
    T('create-datakey-without-plaintext', { key_id: aes, datakey_length: '512' }),
    T('encrypt-datakey', { key_id: aes, plain_text: dk.plain_text, datakey_plain_length: '32' }),
    T('decrypt-datakey', { key_id: aes, cipher_text: dk.cipher_text, datakey_cipher_length: '32' }),
    T('gen-random', { random_data_length: '256' }),
    T('sign', {
      key_id: ec,
      message: Buffer.from('hello').toString('base64'),
      signing_algorithm: 'ECDSA_SHA_256',
      message_type: 'RAW',
    }),
    T('verify', {
      key_id: ec,
      message: Buffer.from('hello').toString('base64'),
      signing_algorithm: 'ECDSA_SHA_256',
      message_type: 'RAW',
      signature: sig,
    }),
    T('get-publickey', { key_id: ec }),
    T('generate-mac', { key_id: aes, mac_algorithm: 'HMAC_SHA_256', message: 'aGVsbG8=' }),
    T('verify-mac', { key_id: aes, mac_algorithm: 'HMAC_SHA_256', message: 'aGVsbG8=', mac: 'AAAA' }),
    T('enable-key-rotation', { key_id: rot }),
    T('update-key-rotation-interval', { key_id: rot, rotation_interval: '30' }),
    T('get-key-rotation-status', { key_id: rot }),
    T('rotate-on-demand', { key_id: rot }),
    T('disable-key-rotation', { key_id: rot }),
    T('', { tag: { key: 'k', value: 'v' } }, { paths: [`/v1.0/${P1}/kms/${aes}/tags`], pathParam: aes }),
    T('', { action: 'create', tags: [{ key: 'a', value: 'b' }] }, { paths: [`/v1.0/${P1}/kms/${aes}/tags/action`], pathParam: aes }),
    T('', undefined, { method: 'GET', paths: [`/v1.0/${P1}/kms/${aes}/tags`], pathParam: aes }),
    T('', undefined, { method: 'DELETE', paths: [`/v1.0/${P1}/kms/${aes}/tags/a`], pathParam: aes }),
    T('', undefined, {
      method: 'GET',
      paths: [`/v1.0/${P1}/kms/user-instances`, `/v1.0/${P1}/kms/user-quotas`, `/v1.0/${P1}/kms/tags`],
    }),
    {
      dialect: 'huawei',
      method: 'POST',
      paths: ['/v3/auth/tokens', '/v3/auth/tokens?nocatalog=true'],
      body: {
        auth: {
          identity: {
            methods: ['password'],
            password: { user: { name: 'adminP1', password: 'adminP1-password', domain: { name: 'acme' } } },
          },
          scope: { project: { id: P1 } },
        },
      },
    },
  ];
  return { targets, client: w.huawei.client, headers };
}

async function cseTargets(w: World): Promise<{ targets: Target[]; client: Client }> {
  const rn = '//googleapis.com/drive/files/fuzz';
  const user = 'alice@example.com';
  const admin = 'admin@example.com';
  const authn = await w.cse.authn(user);
  const adminAuthn = await w.cse.authn(admin);
  const writer = await w.cse.authz(0, 'writer', rn, user);
  const reader = await w.cse.authz(0, 'reader', rn, user);
  const cli = w.cse.clients[0]!;
  const ok = async (path: string, json: unknown) => {
    const r = await cli.send({ method: 'POST', path, json });
    if (r.status >= 300) throw new Error(`fuzz setup: CSE ${path} -> ${r.status} ${r.text}`);
    return r.json;
  };
  const key = randomBytes(32).toString('base64');
  const wrapped = (await ok('/v1/wrap', { authentication: authn, authorization: writer, key, reason: 'fuzz' })).wrapped_key as string;
  const pem = generateKeyPairDetached('rsa', { modulusLength: 2048 }).privateKey.export({
    format: 'pem',
    type: 'pkcs8',
  }) as string;
  const wpk = (await ok('/v1/wrapprivatekey', { authentication: adminAuthn, private_key: pem })).wrapped_private_key as string;
  const both = (op: string) => [`/v1/${op}`, `/${op}`];
  const T = (op: string, body?: Record<string, unknown>, method = 'POST'): Target => ({
    dialect: 'cse',
    method,
    paths: both(op),
    body,
  });
  const targets: Target[] = [
    T('status', undefined, 'GET'),
    T('certs', undefined, 'GET'),
    T('wrap', { authentication: authn, authorization: writer, key, reason: 'fuzz' }),
    T('unwrap', { authentication: authn, authorization: reader, wrapped_key: wrapped, reason: 'fuzz' }),
    T('privilegedwrap', { authentication: adminAuthn, key, resource_name: rn, perimeter_id: '', reason: 'fuzz' }),
    T('privilegedunwrap', { authentication: adminAuthn, wrapped_key: wrapped, resource_name: rn, reason: 'fuzz' }),
    T('digest', { authorization: reader, wrapped_key: wrapped, reason: 'fuzz' }),
    T('rewrap', {
      authorization: writer,
      original_kacls_url: 'https://kacls-b.example.test/v1',
      wrapped_key: wrapped,
      reason: 'fuzz',
    }),
    T('wrapprivatekey', { authentication: adminAuthn, perimeter_id: '', private_key: pem }),
    T('privatekeysign', {
      authentication: authn,
      authorization: writer,
      algorithm: 'SHA256withRSA',
      digest: randomBytes(32).toString('base64'),
      wrapped_private_key: wpk,
      reason: 'fuzz',
    }),
    T('privatekeydecrypt', {
      authentication: authn,
      authorization: reader,
      algorithm: 'RSA/ECB/OAEPwithSHA-256andMGF1Padding',
      encrypted_data_encryption_key: randomBytes(256).toString('base64'),
      wrapped_private_key: wpk,
    }),
    T('privilegedprivatekeydecrypt', {
      authentication: adminAuthn,
      algorithm: 'RSA/ECB/PKCS1Padding',
      encrypted_data_encryption_key: randomBytes(256).toString('base64'),
      wrapped_private_key: wpk,
      spki_hash: randomBytes(32).toString('base64'),
      spki_hash_algorithm: 'SHA-256',
    }),
    T('delegate', { authentication: authn, authorization: writer, reason: 'fuzz' }),
  ];
  return { targets, client: cli };
}

// ---------------------------------------------------------------- the dialects' error bodies

const isHuaweiError = (j: any) => {
  if (!j || typeof j !== 'object' || Array.isArray(j)) return false;
  const keys = Object.keys(j).sort().join(',');
  if (keys === 'error' && j.error && typeof j.error === 'object') {
    const inner = Object.keys(j.error).sort().join(',');
    // KMS's nested body, or Keystone's (IAM /v3) {error: {code, message, title}}.
    return (inner === 'error_code,error_msg' && typeof j.error.error_code === 'string') || inner === 'code,message,title';
  }
  return keys === 'error_code,error_msg,request_id' && typeof j.error_code === 'string';
};
const isCseError = (j: any) =>
  !!j &&
  typeof j === 'object' &&
  !Array.isArray(j) &&
  Object.keys(j).sort().join(',') === 'code,details,message' &&
  typeof j.message === 'string';

const IS_ERROR: Record<Target['dialect'], (j: any) => boolean> = {
  ovh: isOvhError,
  huawei: isHuaweiError,
  cse: isCseError,
};

// ---------------------------------------------------------------- running

/** Connections closed without an answer, by input kind: expected for bodies over the limit (the server answers early and closes). */
const resets = new Map<string, number>();

function judge(ctx: Ctx, w: World, c: Case, r: Reply | NoAnswer) {
  const t = ctx.tally;
  const d = c.target.dialect;
  const what = () => `${d} ${c.send.method} ${preview(c.send.path, 120)} [${c.label}] body=${preview(c.send.raw ?? '', 160)}`;
  if (r instanceof NoAnswer) {
    countAnswer(t, d, r.kind);
    if (r.kind === 'reset') resets.set(`${d} ${c.label}`, (resets.get(`${d} ${c.label}`) ?? 0) + 1);
    if (r.kind === 'hang') fail(t, 'hangs', NAME, `${what()}: no answer in 10 s`);
    else if (r.kind === 'refused' || !w.child.alive())
      fail(t, 'crash', NAME, `${what()}: ${r.message} (process alive: ${w.child.alive()})`);
    return;
  }
  const cls = `${Math.floor(r.status / 100)}xx`;
  countAnswer(t, d, cls);
  if (r.status >= 500) {
    fail(t, 'fiveXX', NAME, `${what()} -> ${r.status} ${preview(r.text, 200)}`);
    return;
  }
  // HEAD has no body; an OPTIONS preflight of CSE answers CORS without a body.
  if (r.status >= 400 && c.send.method !== 'HEAD' && !IS_ERROR[d](r.json))
    fail(t, 'badBody', NAME, `${what()} -> ${r.status} not ${d}'s error body: ${preview(r.text, 200)}`);
}

/** The wire-level inputs: framing an HTTP client will not produce. */
function rawInputs(
  host: string,
  path: string,
  headers: Record<string, string>,
  n: number,
  seed: number,
): { label: string; bytes: Buffer; halfClose: boolean }[] {
  const extra = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  const head = (more: string, method = 'POST') => `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\n${extra}${more}`;
  const body = '{"plaintext":"aGVsbG8="}';
  const all = [
    {
      label: 'body shorter than Content-Length, then FIN',
      bytes: Buffer.from(head(`content-type: application/json\r\ncontent-length: 500\r\n\r\n`) + body.slice(0, 10)),
      halfClose: true,
    },
    {
      label: 'body longer than Content-Length',
      bytes: Buffer.from(`${head(`content-type: application/json\r\ncontent-length: 5\r\n\r\n`) + body}GARBAGE\r\n\r\n`),
      halfClose: false,
    },
    {
      label: 'bad chunk size',
      bytes: Buffer.from(head(`content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n${body}\r\n0\r\n\r\n`)),
      halfClose: false,
    },
    {
      label: 'chunked, cut mid-chunk, then FIN',
      bytes: Buffer.from(head(`content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n40\r\n${body}`)),
      halfClose: true,
    },
    {
      label: 'Content-Length and chunked',
      bytes: Buffer.from(
        head(
          `content-type: application/json\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
        ),
      ),
      halfClose: false,
    },
    {
      label: 'two Content-Lengths',
      bytes: Buffer.from(head(`content-type: application/json\r\ncontent-length: ${body.length}\r\ncontent-length: 3\r\n\r\n${body}`)),
      halfClose: false,
    },
    {
      label: 'header without a colon',
      bytes: Buffer.from(head(`this is not a header\r\ncontent-length: 0\r\n\r\n`)),
      halfClose: false,
    },
    {
      label: 'binary request line',
      bytes: Buffer.concat([randomBytes(64), Buffer.from('\r\n\r\n')]),
      halfClose: false,
    },
    {
      label: 'huge header (100 KB)',
      bytes: Buffer.from(head(`x-pad: ${'a'.repeat(100_000)}\r\ncontent-length: 0\r\n\r\n`)),
      halfClose: false,
    },
    {
      label: 'headers then FIN',
      bytes: Buffer.from(head(`content-type: application/json\r\ncontent-length: 20\r\n`)),
      halfClose: true,
    },
    {
      label: 'non-ASCII in a header value',
      bytes: Buffer.concat([Buffer.from(head('')), Buffer.from('x-h: \u00ff\u00fe\r\ncontent-length: 0\r\n\r\n', 'latin1')]),
      halfClose: false,
    },
    {
      label: 'Expect: 100-continue, no body, FIN',
      bytes: Buffer.from(head(`content-type: application/json\r\nexpect: 100-continue\r\ncontent-length: 30\r\n\r\n`)),
      halfClose: true,
    },
  ];
  const out = [];
  for (let i = 0; i < n; i++) out.push(all[(i + seed) % all.length]!);
  return out;
}

async function fuzzDialect(
  ctx: Ctx,
  w: World,
  dialect: Target['dialect'],
  targets: Target[],
  client: Client,
  raw: { base: string; creds: TlsCreds; headers: Record<string, string>; path: string },
  liveness: () => Promise<Reply>,
  resign?: Resign,
) {
  const t = ctx.tally;
  const n = ctx.profile.fuzzPerDialect;
  const seed = ctx.profile.seed + dialect.length;
  const cases = [
    ...fc.sample(fc.oneof(...targets.map(caseArb)), { numRuns: n, seed }),
    ...(await sweepCases(targets, ctx.profile, seed, resign)),
  ];
  const started = Date.now();
  await pool(cases, 6, async (c) => {
    let r: Reply | NoAnswer;
    // A body over the dialects' 64 KB limit goes on a connection of its own: the server drops the
    // connection after answering it (checked below), which would otherwise hit the next input.
    const oversized = c.send.raw !== undefined && Buffer.byteLength(c.send.raw) > 60 * 1024;
    const via = oversized ? new Client(raw.base, raw.creds) : client;
    try {
      r = await via.send(c.send);
    } catch (e) {
      r = e instanceof NoAnswer ? e : new NoAnswer('reset', String(e), 0);
    } finally {
      if (oversized) await via.close();
    }
    if (r instanceof NoAnswer && r.kind === 'client') return; // not sent: our client refused it
    t.inputs[dialect] = (t.inputs[dialect] ?? 0) + 1;
    judge(ctx, w, c, r);
  });
  const u = new URL(raw.base);
  for (const input of rawInputs(`${u.hostname}:${u.port}`, raw.path, raw.headers, ctx.profile.rawPerDialect, seed)) {
    const r = await rawTls(raw.base, raw.creds, input.bytes, { halfClose: input.halfClose, waitMs: 3_000 });
    t.inputs[dialect] = (t.inputs[dialect] ?? 0) + 1;
    countAnswer(t, dialect, r.status ? `raw-${Math.floor(r.status / 100)}xx` : 'raw-closed');
    if (r.status >= 500) fail(t, 'fiveXX', NAME, `${dialect} raw [${input.label}] -> ${preview(r.text, 200)}`);
  }
  // An answer says `Connection: keep-alive`: the connection must then carry the next request.
  await droppedAfterOversized(ctx, dialect, targets, raw);
  // Still up, still serving.
  let alive: Reply | undefined;
  try {
    alive = await liveness();
  } catch {
    alive = undefined;
  }
  if (!w.child.alive() || !alive || alive.status >= 300)
    fail(
      t,
      'crash',
      NAME,
      `${dialect}: after fuzzing, the process is ${w.child.alive() ? 'up but not serving' : 'gone'}: ${alive ? `${alive.status} ${preview(alive.text)}` : 'no answer'}`,
    );
  ctx.log(
    `fuzz ${dialect}: ${t.inputs[dialect] ?? 0} inputs in ${((Date.now() - started) / 1000).toFixed(1)} s ${JSON.stringify(t.answers[dialect] ?? {})}`,
  );
}

/**
 * One connection: a body over the limit (answered with a 4xx), then small valid requests on the same
 * connection. A client that trusts `Connection: keep-alive` must not see them fail.
 */
async function droppedAfterOversized(
  ctx: Ctx,
  dialect: Target['dialect'],
  targets: Target[],
  raw: { base: string; creds: TlsCreds; headers: Record<string, string> },
) {
  const t = targets.find((x) => x.method === 'POST' && x.body)!;
  for (const size of [100_000, 1_000_000]) {
    const one = new Client(raw.base, raw.creds, 1);
    try {
      const big = await one
        .send({
          method: 'POST',
          path: t.paths[0]!,
          raw: JSON.stringify({ ...t.body, pad: 'A'.repeat(size) }),
          headers: { ...(t.headers ?? {}), ...JSON_CT },
        })
        .catch((e: NoAnswer) => e);
      ctx.tally.inputs[dialect] = (ctx.tally.inputs[dialect] ?? 0) + 1;
      if (big instanceof NoAnswer) continue;
      for (let i = 0; i < 3; i++) {
        const next = await one.send({ method: 'POST', path: t.paths[0]!, json: t.body, headers: t.headers }).catch((e: NoAnswer) => e);
        if (next instanceof NoAnswer)
          fail(
            ctx.tally,
            'dropped',
            NAME,
            `${dialect}: after a ${size}-byte body answered ${big.status} with 'connection: ${big.headers.connection}', the next request on that connection failed: ${next.message}`,
          );
      }
    } finally {
      await one.close();
    }
  }
}

export const fuzz: Scenario = {
  name: NAME,
  title: 'fuzz every endpoint of every dialect over HTTPS',
  async run(ctx) {
    const w = await openWorld('pglite');
    try {
      const o = await ovhTargets(w);
      await fuzzDialect(
        ctx,
        w,
        'ovh',
        o.targets,
        o.client,
        {
          base: w.urls.ovh,
          creds: o.creds,
          headers: {},
          path: `/api/${w.ovh.okms.A}/v1/servicekey/00000000-0000-4000-8000-000000000000/encrypt`,
        },
        () => o.client.send({ method: 'GET', path: '/v1/random?length=8' }),
      );
      const h = await huaweiTargets(w);
      await fuzzDialect(
        ctx,
        w,
        'huawei',
        h.targets,
        h.client,
        { base: w.urls.huawei, creds: { ca: w.ca }, headers: h.headers, path: `/v1.0/${P1}/kms/encrypt-data` },
        () => w.huawei.call(h.headers['X-Auth-Token'], 'gen-random', { random_data_length: '64' }),
      );
      const c = await cseTargets(w);
      const issuers = Object.values(w.cse.issuers);
      const resign: Resign = async (token, payload) => {
        let iss: unknown;
        try {
          iss = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')).iss;
        } catch {
          return undefined;
        }
        return issuers.find((i) => i.iss === iss)?.signRaw(payload);
      };
      await fuzzDialect(
        ctx,
        w,
        'cse',
        c.targets,
        c.client,
        { base: w.urls.cse[0]!, creds: { ca: w.ca }, headers: {}, path: '/v1/wrap' },
        () => c.client.send({ method: 'GET', path: '/v1/status' }),
        resign,
      );
      if (resets.size)
        ctx.log(`fuzz: connections closed without an answer (by input kind): ${[...resets].map(([k, v]) => `${k}: ${v}`).join(', ')}`);
      // Where a 5xx came from: the host logs each with its stack (grouped by message).
      const logged = new Map<string, number>();
      for (const e of w.child.errors)
        logged.set(
          `${e.msg} | ${preview(e.err?.stack ?? '', 300)}`,
          (logged.get(`${e.msg} | ${preview(e.err?.stack ?? '', 300)}`) ?? 0) + 1,
        );
      for (const [m, n] of logged) ctx.log(`fuzz: host logged at error level (x${n}): ${m}`);
      // A 5xx can also go to a client that has gone (it closed mid-body): no answer counts it, the
      // host's log does (each dialect logs every 5xx as "<dialect> request failed").
      const attempted = w.child.errors.filter((e) => /^(ovh|huawei|cse) request failed$/.test(String(e.msg))).length;
      const answered = Object.values(ctx.tally.answers).reduce((n, a) => n + (a['5xx'] ?? 0) + (a['raw-5xx'] ?? 0), 0);
      if (attempted > answered)
        fail(
          ctx.tally,
          'fiveXX',
          NAME,
          `the host logged ${attempted} 5xx answers, clients received ${answered}: the rest went to clients that had gone (see the lines above)`,
        );
    } finally {
      await w.close();
    }
  },
};
