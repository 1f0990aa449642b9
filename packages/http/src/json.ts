import type { Context } from 'hono';
import type { z } from 'zod';
import { readText } from './body.ts';
import { requestHeader } from './headers.ts';

/** What was wrong with a JSON body; each listener turns it into its own error. */
export type BodyProblem =
  | { why: 'content_type'; message: string; contentType: string | undefined }
  | { why: 'syntax' | 'empty' | 'not_object'; message: string }
  | { why: 'schema'; message: string; error: z.ZodError; json: unknown };

export interface JsonBodyOptions {
  /** The listener's error for a bad body. */
  refuse: (p: BodyProblem) => Error;
  /** Content types taken as JSON; absent: any (the body is parsed whatever the header says). */
  types?: RegExp | undefined;
  /** Whether a request without Content-Type passes the `types` check. */
  untypedOk?: boolean | undefined;
  /** An empty body reads as this value (e.g. `{}`); absent: an empty body is refused. */
  empty?: unknown;
  /** Only a JSON object is a body (not an array, a string or null). */
  objectOnly?: boolean | undefined;
  /** The sentences of a schema failure; `describeIssues` by default. */
  describe?: ((e: z.ZodError) => string[]) | undefined;
}

/** A zod failure as one sentence per problem, naming the field. */
export function describeIssues(error: z.ZodError): string[] {
  return error.issues.map((i) => {
    const path = i.path.join('.');
    if (i.code === 'unrecognized_keys')
      return `unknown field${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `'${path ? `${path}.` : ''}${k}'`).join(', ')}`;
    return path ? `${path}: ${i.message}` : i.message;
  });
}

/** A body already read (as text), against its schema. */
export function parseJson<S extends z.ZodType>(text: string, schema: S, o: JsonBodyOptions): z.infer<S> {
  let json: unknown;
  if (text === '' && 'empty' in o) json = o.empty;
  else {
    try {
      json = JSON.parse(text);
    } catch {
      throw o.refuse(
        text === '' ? { why: 'empty', message: 'the request needs a JSON body' } : { why: 'syntax', message: 'the body is not valid JSON' },
      );
    }
  }
  if (o.objectOnly && (json === null || typeof json !== 'object' || Array.isArray(json)))
    throw o.refuse({ why: 'not_object', message: 'the body must be a JSON object' });
  const r = schema.safeParse(json);
  if (!r.success)
    throw o.refuse({
      why: 'schema',
      message: (o.describe ?? describeIssues)(r.error).join('; '),
      error: r.error,
      json,
    });
  return r.data;
}

/** Step one of a handler: the request's body, read once and bounded, against its schema. */
export async function readJson<S extends z.ZodType>(c: Context, schema: S, o: JsonBodyOptions): Promise<z.infer<S>> {
  const type = requestHeader(c, 'content-type');
  const text = await readText(c);
  if (o.types && !(type === undefined ? o.untypedOk : o.types.test(type)))
    throw o.refuse({
      why: 'content_type',
      message: `the body must be JSON (Content-Type: application/json); got '${(type ?? 'none').slice(0, 100)}'`,
      contentType: type,
    });
  return parseJson(text, schema, o);
}
