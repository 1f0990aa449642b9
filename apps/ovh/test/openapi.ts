/**
 * Test utility: checks requests and responses of the OVH dialect against the official OVHcloud KMS
 * OpenAPI 3.0.1 document (`apps/ovh/spec/ovh-okms-openapi.yaml`, a verbatim copy of okms-sdk-go's
 * swagger.yaml, info.version 2.16.2, sha256 72e335bf...).
 *
 * - `operationFor(method, path)` finds the spec operation for a concrete path, in its current form
 *   (`/api/{okmsId}/v1/servicekey/...`) or its legacy form (`/v1/servicekey/...`, same operations
 *   without the `/api/{okmsId}` prefix).
 * - `validateResponse` / `validateRequest` validate bodies with ajv, after turning the OpenAPI 3.0
 *   schemas into JSON Schema (draft-07): `nullable` becomes a type union (or an `anyOf` with
 *   `{type: 'null'}` when the schema is a `$ref` or a composition), `$ref`s point at one registered
 *   schema holding every component, and the OpenAPI-only annotations are stripped.
 *
 * Bodies are passed either parsed (any JSON value) or as raw text (a string, parsed here: no response or
 * request schema of the spec is a bare string). `undefined`, `null`, `''` and an empty byte array count
 * as "no body".
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { parse as parseYaml } from 'yaml';

const addFormats = addFormatsModule.default;

/** The repository root (`apps/ovh/test/` is three levels down). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** Kept in the repository so a clean clone (CI) validates against the same document. */
export const SPEC_PATH = resolve(REPO_ROOT, 'apps', 'ovh', 'spec', 'ovh-okms-openapi.yaml');

// ---------------------------------------------------------------------------------------------------
// OpenAPI document types (only what this utility reads)

export type SchemaObject = { [keyword: string]: unknown };

interface Reference {
  $ref: string;
}

interface MediaTypeObject {
  schema?: SchemaObject;
}

interface ParameterObject {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  schema?: SchemaObject;
}

interface RequestBodyObject {
  required?: boolean;
  content?: Record<string, MediaTypeObject>;
}

interface ResponseObject {
  description?: string;
  content?: Record<string, MediaTypeObject>;
}

export interface OperationObject {
  operationId?: string;
  parameters?: Array<ParameterObject | Reference>;
  requestBody?: RequestBodyObject | Reference;
  responses: Record<string, ResponseObject | Reference>;
}

type PathItemObject = { parameters?: Array<ParameterObject | Reference> } & Partial<Record<HttpMethod, OperationObject>>;

export interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, PathItemObject>;
  components?: {
    schemas?: Record<string, SchemaObject>;
    parameters?: Record<string, ParameterObject>;
    requestBodies?: Record<string, RequestBodyObject>;
    responses?: Record<string, ResponseObject>;
  };
}

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
type HttpMethod = (typeof HTTP_METHODS)[number];

// ---------------------------------------------------------------------------------------------------
// Loading

let specCache: OpenApiDocument | undefined;

/** The parsed spec (read and parsed once). */
export function loadSpec(): OpenApiDocument {
  if (!specCache) {
    const doc = parseYaml(readFileSync(SPEC_PATH, 'utf8')) as OpenApiDocument;
    if (typeof doc?.openapi !== 'string' || !doc.openapi.startsWith('3.0.')) {
      throw new Error(`${SPEC_PATH}: expected an OpenAPI 3.0.x document, got openapi=${String(doc?.openapi)}`);
    }
    specCache = doc;
  }
  return specCache;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isRef = (v: unknown): v is Reference => isObject(v) && typeof v.$ref === 'string';

/** Resolves a local `#/...` reference (parameters, request bodies, responses) in the document. */
function deref<T>(doc: OpenApiDocument, v: T | Reference): T {
  let cur: unknown = v;
  for (let hops = 0; isRef(cur); hops++) {
    if (hops > 16) throw new Error(`reference loop at ${(v as Reference).$ref}`);
    const ref = cur.$ref;
    if (!ref.startsWith('#/')) throw new Error(`only local references are supported, got ${ref}`);
    let target: unknown = doc;
    for (const raw of ref.slice(2).split('/')) {
      const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
      target = isObject(target) ? target[key] : undefined;
    }
    if (target === undefined) throw new Error(`unresolved reference ${ref}`);
    cur = target;
  }
  return cur as T;
}

// ---------------------------------------------------------------------------------------------------
// Formats

/** Standard base64 with padding, canonical (no stray bits in the last group, no whitespace). */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
export const isBase64 = (s: string): boolean => BASE64.test(s) && Buffer.from(s, 'base64').toString('base64') === s;

/** base64url without padding (RFC 7515 §2), canonical. */
const BASE64URL = /^[A-Za-z0-9_-]*$/;
export const isBase64Url = (s: string): boolean =>
  BASE64URL.test(s) && s.length % 4 !== 1 && Buffer.from(s, 'base64url').toString('base64url') === s;

/**
 * JWE compact serialization (RFC 7516 §7.1): five base64url segments separated by dots
 * (header.encryptedKey.iv.ciphertext.tag). The protected header must be a JSON object with `alg` and
 * `enc` (§4.1.1, §4.1.2); the encrypted key is empty with `alg: dir`, the ciphertext may be empty.
 */
export function isJweCompact(s: string): boolean {
  const parts = s.split('.');
  if (parts.length !== 5 || !parts.every(isBase64Url)) return false;
  const [header, , iv, , tag] = parts as [string, string, string, string, string];
  if (!header || !iv || !tag) return false;
  try {
    const h: unknown = JSON.parse(Buffer.from(header, 'base64url').toString('utf8'));
    return isObject(h) && typeof h.alg === 'string' && typeof h.enc === 'string';
  } catch {
    return false;
  }
}

/** RFC 9562 textual form only (ajv-formats' `uuid` also admits a `urn:uuid:` prefix). */
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

const isUint32 = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= 0xffff_ffff;

/** Every format the converter accepts; a schema with any other format makes `loadValidators` throw. */
const FORMATS_FROM_AJV_FORMATS = ['date-time', 'date', 'time', 'int32', 'int64', 'float', 'double', 'password', 'binary'] as const;
const CUSTOM_FORMATS = ['byte', 'base64url', 'jwe-token', 'uuid', 'uint32', 'string'] as const;
const KNOWN_FORMATS = new Set<string>([...FORMATS_FROM_AJV_FORMATS, ...CUSTOM_FORMATS]);

// ---------------------------------------------------------------------------------------------------
// OpenAPI 3.0 schema -> JSON Schema (draft-07)

const SCHEMAS_ID = 'https://polykms.invalid/ovh-okms-openapi/components.json';
const COMPONENT_REF = '#/components/schemas/';

/** Keywords that are OpenAPI-only or pure annotations; removed (`nullable` is applied first). */
const STRIPPED = new Set([
  'nullable',
  'readOnly',
  'writeOnly',
  'example',
  'examples',
  'deprecated',
  'discriminator',
  'xml',
  'externalDocs',
]);
const COMPOSITIONS = ['allOf', 'anyOf', 'oneOf'] as const;

function rewriteRef(ref: string, where: string): string {
  if (!ref.startsWith(COMPONENT_REF)) throw new Error(`${where}: unsupported $ref ${ref}`);
  return `${SCHEMAS_ID}#/definitions/${ref.slice(COMPONENT_REF.length)}`;
}

/** Applies `nullable: true` to an already-converted schema. */
function makeNullable(s: SchemaObject): SchemaObject {
  const composite = '$ref' in s || 'not' in s || COMPOSITIONS.some((k) => k in s);
  if (!composite && typeof s.type === 'string') {
    const out: SchemaObject = { ...s, type: [s.type, 'null'] };
    if (Array.isArray(s.enum) && !s.enum.includes(null)) out.enum = [...s.enum, null];
    return out;
  }
  if (!composite && s.type === undefined && !Array.isArray(s.enum)) return s; // no type: null already passes
  const { description, title, default: dflt, ...rest } = s;
  const annotations: SchemaObject = {};
  if (description !== undefined) annotations.description = description;
  if (title !== undefined) annotations.title = title;
  if (dflt !== undefined) annotations.default = dflt;
  return { ...annotations, anyOf: [rest, { type: 'null' }] };
}

/** Converts one OpenAPI 3.0 Schema Object (recursively) into JSON Schema. */
export function toJsonSchema(schema: unknown, where = '#'): SchemaObject | boolean {
  if (typeof schema === 'boolean') return schema;
  if (!isObject(schema)) throw new Error(`${where}: a schema must be an object, got ${JSON.stringify(schema)}`);
  const out: SchemaObject = {};
  for (const [k, v] of Object.entries(schema)) {
    if (STRIPPED.has(k) || k.startsWith('x-')) continue;
    const at = `${where}/${k}`;
    switch (k) {
      case '$ref':
        out.$ref = rewriteRef(String(v), where);
        break;
      case 'properties':
      case 'patternProperties':
        if (!isObject(v)) throw new Error(`${at}: must be an object`);
        out[k] = Object.fromEntries(Object.entries(v).map(([name, sub]) => [name, toJsonSchema(sub, `${at}/${name}`)]));
        break;
      case 'items':
        out.items = Array.isArray(v) ? v.map((sub, i) => toJsonSchema(sub, `${at}/${i}`)) : toJsonSchema(v, at);
        break;
      case 'additionalProperties':
      case 'not':
        out[k] = toJsonSchema(v, at);
        break;
      case 'allOf':
      case 'anyOf':
      case 'oneOf':
        if (!Array.isArray(v)) throw new Error(`${at}: must be an array`);
        out[k] = v.map((sub, i) => toJsonSchema(sub, `${at}/${i}`));
        break;
      case 'format':
        if (typeof v !== 'string' || !KNOWN_FORMATS.has(v)) throw new Error(`${at}: unknown format ${JSON.stringify(v)}`);
        out.format = v;
        break;
      default:
        out[k] = v; // type, enum, required, default, description, min*/max*, pattern, ...
    }
  }
  // readOnly / writeOnly are stripped, which is only exact while no *required* property carries them
  // (a required readOnly property is required in responses only). The 2.16.2 spec has none; fail loudly
  // if a newer spec adds one rather than silently validating it the wrong way.
  if (Array.isArray(schema.required) && isObject(schema.properties)) {
    for (const name of schema.required) {
      const p = (schema.properties as Record<string, unknown>)[String(name)];
      if (isObject(p) && (p.readOnly === true || p.writeOnly === true)) {
        throw new Error(`${where}: required property ${String(name)} is readOnly/writeOnly; direction-aware validation is not implemented`);
      }
    }
  }
  return schema.nullable === true ? makeNullable(out) : out;
}

// ---------------------------------------------------------------------------------------------------
// Validators and the route table

interface Route {
  method: HttpMethod;
  template: string;
  operationId: string;
  operation: OperationObject;
  pathParams: ParameterObject[];
  current: RegExp;
  legacy: RegExp | undefined;
  literalLength: number;
}

interface Validators {
  ajv: Ajv;
  routes: Route[];
  compiled: Map<string, ValidateFunction>;
  bySchema: WeakMap<SchemaObject, ValidateFunction>;
}

let validatorsCache: Validators | undefined;

function createAjv(doc: OpenApiDocument): Ajv {
  const ajv = new Ajv({
    allErrors: true,
    // Unknown keywords are tolerated (OpenAPI leftovers such as `description` siblings of `$ref`);
    // `additionalProperties: false` and every assertion keyword are enforced regardless.
    strict: false,
    strictNumbers: true,
    validateFormats: true,
  });
  addFormats(ajv, { mode: 'full', formats: [...FORMATS_FROM_AJV_FORMATS] });
  ajv.addFormat('byte', { type: 'string', validate: isBase64 });
  ajv.addFormat('base64url', { type: 'string', validate: isBase64Url });
  ajv.addFormat('jwe-token', { type: 'string', validate: isJweCompact });
  ajv.addFormat('uuid', { type: 'string', validate: UUID });
  ajv.addFormat('uint32', { type: 'number', validate: isUint32 });
  ajv.addFormat('string', true); // used by the spec on SignResponse/VerifyRequest.signature; says nothing
  const definitions = Object.fromEntries(
    Object.entries(doc.components?.schemas ?? {}).map(([name, s]) => [name, toJsonSchema(s, `${COMPONENT_REF}${name}`)]),
  );
  ajv.addSchema({ $id: SCHEMAS_ID, definitions });
  return ajv;
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The regex source for one template; parameters whose pattern admits `/` may span segments. */
function templateSource(template: string, params: ParameterObject[]): string {
  return template
    .split(/(\{[^}]+\})/)
    .map((part) => {
      const m = /^\{([^}]+)\}$/.exec(part);
      if (!m) return escapeRegExp(part);
      const p = params.find((x) => x.name === m[1]);
      const pattern = p?.schema?.pattern;
      const spans = typeof pattern === 'string' && new RegExp(pattern, 'u').test('a/b');
      return spans ? '(.+)' : '([^/]+)';
    })
    .join('');
}

function mergeParameters(doc: OpenApiDocument, item: PathItemObject, op: OperationObject): ParameterObject[] {
  const byKey = new Map<string, ParameterObject>();
  for (const raw of [...(item.parameters ?? []), ...(op.parameters ?? [])]) {
    const p = deref<ParameterObject>(doc, raw);
    byKey.set(`${p.in}:${p.name}`, p);
  }
  return [...byKey.values()];
}

const LEGACY_PREFIX = '/api/{okmsId}';

function loadValidators(): Validators {
  if (validatorsCache) return validatorsCache;
  const doc = loadSpec();
  const ajv = createAjv(doc);
  const routes: Route[] = [];
  for (const [template, item] of Object.entries(doc.paths)) {
    for (const method of HTTP_METHODS) {
      const operation = item[method];
      if (!operation) continue;
      const pathParams = mergeParameters(doc, item, operation).filter((p) => p.in === 'path');
      const source = templateSource(template, pathParams);
      routes.push({
        method,
        template,
        operationId: operation.operationId ?? `${method.toUpperCase()} ${template}`,
        operation,
        pathParams,
        current: new RegExp(`^${source}$`),
        legacy: template.startsWith(`${LEGACY_PREFIX}/`)
          ? new RegExp(`^${templateSource(template.slice(LEGACY_PREFIX.length), pathParams)}$`)
          : undefined,
        literalLength: template.replace(/\{[^}]+\}/g, '').length,
      });
    }
  }
  validatorsCache = { ajv, routes, compiled: new Map(), bySchema: new WeakMap() };
  return validatorsCache;
}

/** Compiles a converted schema once; identical schemas (e.g. every `ErrorResponse`) share a validator. */
function validatorFor(v: Validators, schema: SchemaObject, where: string): ValidateFunction {
  const known = v.bySchema.get(schema);
  if (known) return known;
  const converted = toJsonSchema(schema, where);
  const key = JSON.stringify(converted);
  let fn = v.compiled.get(key);
  if (!fn) {
    fn = v.ajv.compile(typeof converted === 'boolean' ? converted : { ...converted });
    v.compiled.set(key, fn);
  }
  v.bySchema.set(schema, fn);
  return fn;
}

// ---------------------------------------------------------------------------------------------------
// Public API

export interface OperationMatch {
  operationId: string;
  /** The spec's path template, always in its `/api/{okmsId}/...` form. */
  template: string;
  method: string;
  /** True when the request used the legacy form without `/api/{okmsId}`. */
  legacy: boolean;
  /** Path parameters taken from the concrete path (raw, not percent-decoded). */
  params: Record<string, string>;
  /** Path parameters that do not satisfy their schema (e.g. a key id that is not a uuid). */
  paramErrors: string[];
  operation: OperationObject;
}

export interface ValidationResult {
  ok: boolean;
  errors: string[];
  operationId?: string;
}

function checkPathParams(v: Validators, route: Route, params: Record<string, string>): string[] {
  const errors: string[] = [];
  for (const p of route.pathParams) {
    const raw = params[p.name];
    if (raw === undefined || !p.schema) continue;
    const numeric = p.schema.type === 'integer' || p.schema.type === 'number';
    const value: unknown = numeric && /^-?\d+(?:\.\d+)?$/.test(raw) ? Number(raw) : raw;
    const fn = validatorFor(v, p.schema, `${route.template} parameter ${p.name}`);
    if (!fn(value)) errors.push(...formatErrors(fn.errors, `path parameter ${p.name}`));
  }
  return errors;
}

/**
 * The operation whose path template matches `path` (query string ignored), in the current form or the
 * legacy one. Structural match: a malformed parameter (non-uuid key id) still finds its operation and is
 * reported in `paramErrors`. When several templates match, the one with the most literal characters
 * wins, as OpenAPI wants concrete paths before templated ones (`/v2/secret/{path}/version` over
 * `/v2/secret/{path}`), then the one whose parameters are valid.
 */
export function operationFor(method: string, path: string): OperationMatch | undefined {
  const v = loadValidators();
  const m = method.toLowerCase();
  const pathname = path.replace(/[?#].*$/s, '');
  const legacy = !pathname.startsWith('/api/');
  let best: OperationMatch | undefined;
  let bestRank: [number, number] = [-Infinity, Infinity];
  for (const route of v.routes) {
    if (route.method !== m) continue;
    const re = legacy ? route.legacy : route.current;
    const match = re?.exec(pathname);
    if (!match) continue;
    const names = [...route.template.matchAll(/\{([^}]+)\}/g)].map((x) => x[1] as string);
    const groupNames = legacy ? names.filter((n) => n !== 'okmsId') : names;
    const params: Record<string, string> = {};
    groupNames.forEach((n, i) => (params[n] = match[i + 1] as string));
    const paramErrors = checkPathParams(v, route, params);
    const rank: [number, number] = [route.literalLength, paramErrors.length];
    if (rank[0] > bestRank[0] || (rank[0] === bestRank[0] && rank[1] < bestRank[1])) {
      best = {
        operationId: route.operationId,
        template: route.template,
        method: m,
        legacy,
        params,
        paramErrors,
        operation: route.operation,
      };
      bestRank = rank;
    }
  }
  return best;
}

function formatErrors(errors: ErrorObject[] | null | undefined, prefix: string): string[] {
  return (errors ?? []).map((e) => {
    const where = `${prefix}${e.instancePath}`;
    let msg = e.message ?? `fails ${e.keyword}`;
    const params = e.params as Record<string, unknown>;
    if (e.keyword === 'additionalProperties') msg += ` (${String(params.additionalProperty)})`;
    if (e.keyword === 'enum') msg += ` ${JSON.stringify(params.allowedValues)}`;
    return `${where} ${msg}`;
  });
}

const isEmptyBody = (body: unknown): boolean =>
  body === undefined || body === null || body === '' || (body instanceof Uint8Array && body.byteLength === 0);

/** Raw text (string/bytes) is parsed as JSON; anything else is taken as already parsed. */
function parsedBody(body: unknown): { value: unknown } | { error: string } {
  const text = body instanceof Uint8Array ? Buffer.from(body).toString('utf8') : body;
  if (typeof text !== 'string') return { value: body };
  try {
    return { value: JSON.parse(text) };
  } catch {
    return { error: `body is not valid JSON: ${JSON.stringify(text.slice(0, 80))}` };
  }
}

function jsonSchemaOf(content: Record<string, MediaTypeObject> | undefined): SchemaObject | undefined {
  if (!content) return undefined;
  const type = 'application/json' in content ? 'application/json' : Object.keys(content).find((t) => /[/+]json\b/.test(t));
  return type ? content[type]?.schema : undefined;
}

function validateBody(v: Validators, schema: SchemaObject | undefined, body: unknown, where: string, prefix: string): string[] {
  if (!schema) return [`${where}: no application/json schema in the spec`];
  const parsed = parsedBody(body);
  if ('error' in parsed) return [parsed.error];
  const fn = validatorFor(v, schema, where);
  return fn(parsed.value) ? [] : formatErrors(fn.errors, prefix);
}

/**
 * The documented response for `status`: the exact code, else (403 only) the 401 response or, failing
 * that, `ErrorResponse` (OVH answers IAM denials with 403, which the spec does not list), else a
 * `4XX`-style range, else `default`.
 */
function responseFor(doc: OpenApiDocument, op: OperationObject, status: number): ResponseObject | undefined {
  const responses = op.responses ?? {};
  const pick = (key: string) => (responses[key] ? deref<ResponseObject>(doc, responses[key]) : undefined);
  const exact = pick(String(status));
  if (exact) return exact;
  if (status === 403) {
    return (
      pick('401') ?? {
        description: '403 (not in the spec)',
        content: { 'application/json': { schema: { $ref: `${COMPONENT_REF}ErrorResponse` } } },
      }
    );
  }
  return pick(`${Math.floor(status / 100)}XX`) ?? pick('default');
}

/** Validates a response status and body for a request `method path`. */
export function validateResponse(method: string, path: string, status: number, body: unknown): ValidationResult {
  const v = loadValidators();
  const match = operationFor(method, path);
  if (!match) return { ok: false, errors: [`no operation in the spec for ${method.toUpperCase()} ${path}`] };
  const { operationId, operation } = match;
  const result = (errors: string[]): ValidationResult => ({ ok: errors.length === 0, errors, operationId });
  const response = responseFor(loadSpec(), operation, status);
  if (!response) {
    const documented = Object.keys(operation.responses ?? {}).join(', ');
    return result([`status ${status} is not documented for ${operationId} (documented: ${documented})`]);
  }
  const schema = jsonSchemaOf(response.content);
  if (!response.content || Object.keys(response.content).length === 0) {
    return result(isEmptyBody(body) ? [] : [`status ${status} of ${operationId} has no body in the spec, got ${JSON.stringify(body)}`]);
  }
  if (isEmptyBody(body)) return result([`status ${status} of ${operationId} must have a JSON body, got none`]);
  return result(validateBody(v, schema, body, `${operationId} ${status}`, 'response'));
}

/**
 * Validates a request: the path parameters (uuids, ...) and the body against the operation's
 * requestBody (an operation without requestBody must get no body).
 */
export function validateRequest(method: string, path: string, body: unknown): ValidationResult {
  const v = loadValidators();
  const match = operationFor(method, path);
  if (!match) return { ok: false, errors: [`no operation in the spec for ${method.toUpperCase()} ${path}`] };
  const { operationId, operation } = match;
  const errors = [...match.paramErrors];
  const requestBody = operation.requestBody ? deref<RequestBodyObject>(loadSpec(), operation.requestBody) : undefined;
  if (!requestBody) {
    if (!isEmptyBody(body)) errors.push(`${operationId} takes no request body, got ${JSON.stringify(body)}`);
  } else if (isEmptyBody(body)) {
    if (requestBody.required) errors.push(`${operationId} requires a request body`);
  } else {
    errors.push(...validateBody(v, jsonSchemaOf(requestBody.content), body, `${operationId} request`, 'request'));
  }
  return { ok: errors.length === 0, errors, operationId };
}

/**
 * `validateResponse` for a fetch `Response` (e.g. from `app.request()`): reads a clone's text, and
 * checks that a body the spec documents comes as `application/json`.
 */
export async function validateHttpResponse(method: string, path: string, res: Response): Promise<ValidationResult> {
  const text = await res.clone().text();
  const result = validateResponse(method, path, res.status, text);
  const type = res.headers.get('content-type') ?? '';
  if (text !== '' && !/^application\/(?:[\w.-]+\+)?json\b/i.test(type)) {
    return {
      ...result,
      ok: false,
      errors: [...result.errors, `content-type must be application/json, got ${JSON.stringify(type)}`],
    };
  }
  return result;
}

/** Every (operationId, template, method) of the spec, for coverage checks. */
export function listOperations(): Array<{ operationId: string; template: string; method: string }> {
  return loadValidators().routes.map((r) => ({ operationId: r.operationId, template: r.template, method: r.method }));
}

/**
 * Compiles every request and response schema of the spec (throws on an unsupported construct), so a
 * test can prove the whole document is understood.
 */
export function compileAll(): number {
  const v = loadValidators();
  const doc = loadSpec();
  let n = 0;
  for (const r of v.routes) {
    const rb = r.operation.requestBody ? deref<RequestBodyObject>(doc, r.operation.requestBody) : undefined;
    const req = jsonSchemaOf(rb?.content);
    const schemas: Array<[SchemaObject | undefined, string]> = [[req, `${r.operationId} request`]];
    for (const [status, raw] of Object.entries(r.operation.responses ?? {})) {
      schemas.push([jsonSchemaOf(deref<ResponseObject>(doc, raw).content), `${r.operationId} ${status}`]);
    }
    for (const p of r.pathParams) schemas.push([p.schema, `${r.operationId} ${p.name}`]);
    for (const [schema, where] of schemas) {
      if (!schema) continue;
      validatorFor(v, schema, where);
      n++;
    }
  }
  return n;
}
