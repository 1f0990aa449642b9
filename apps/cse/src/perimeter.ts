import { z } from 'zod';

/**
 * Perimeters (https://developers.google.com/workspace/cse/guides/configure-service): an optional extra
 * check per `perimeter_id`, evaluated on the claims of both tokens. A rule is a small JSON expression:
 *
 *   { "claim": "authentication.amr", "includes": "mfa" }
 *   { "claim": "email", "endsWith": "@finance.example.com" }
 *   { "allOf": [ ... ] }  { "anyOf": [ ... ] }  { "not": { ... } }
 *
 * `claim` is `email` (the caller's email, lower-cased), `authentication.<name>` or
 * `authorization.<name>` (dotted paths reach nested claims). One operator per leaf: `equals`, `oneOf`,
 * `endsWith`, `matches` (a regular expression, anchored by the writer), `includes` (an array claim
 * holds the value) or `present`. String comparisons on `email` are case-insensitive.
 */
export type PerimeterRule =
  | { allOf: PerimeterRule[] }
  | { anyOf: PerimeterRule[] }
  | { not: PerimeterRule }
  | {
      claim: string;
      equals?: string | number | boolean | undefined;
      oneOf?: (string | number | boolean)[] | undefined;
      endsWith?: string | undefined;
      matches?: string | undefined;
      includes?: string | number | undefined;
      present?: boolean | undefined;
    };

const Scalar = z.union([z.string(), z.number(), z.boolean()]);
const CLAIM_RE = /^(email|(authentication|authorization)\.[A-Za-z0-9_:-]+(\.[A-Za-z0-9_:-]+)*)$/;

const Leaf = z
  .strictObject({
    claim: z.string().regex(CLAIM_RE, { message: "must be 'email', 'authentication.<claim>' or 'authorization.<claim>'" }),
    equals: Scalar.optional(),
    oneOf: z.array(Scalar).min(1).optional(),
    endsWith: z.string().min(1).optional(),
    matches: z
      .string()
      .min(1)
      .max(512)
      .refine(
        (r) => {
          try {
            new RegExp(r, 'u');
            return true;
          } catch {
            return false;
          }
        },
        { message: 'is not a valid regular expression' },
      )
      .optional(),
    includes: z.union([z.string(), z.number()]).optional(),
    present: z.boolean().optional(),
  })
  .refine(
    (l) =>
      ['equals', 'oneOf', 'endsWith', 'matches', 'includes', 'present'].filter((k) => (l as Record<string, unknown>)[k] !== undefined)
        .length === 1,
    {
      message: 'a claim test needs exactly one of equals, oneOf, endsWith, matches, includes, present',
    },
  );

export const PerimeterRuleSchema: z.ZodType<PerimeterRule> = z.lazy(() =>
  z.union([
    z.strictObject({ allOf: z.array(PerimeterRuleSchema).min(1) }),
    z.strictObject({ anyOf: z.array(PerimeterRuleSchema).min(1) }),
    z.strictObject({ not: PerimeterRuleSchema }),
    Leaf,
  ]),
);

export interface PerimeterInput {
  email: string;
  authentication?: Record<string, unknown> | undefined;
  authorization?: Record<string, unknown> | undefined;
}

function lookup(input: PerimeterInput, claim: string): unknown {
  if (claim === 'email') return input.email.toLowerCase();
  const [token, ...path] = claim.split('.');
  let v: unknown = token === 'authentication' ? input.authentication : input.authorization;
  for (const p of path) {
    if (!v || typeof v !== 'object' || Array.isArray(v) || !Object.hasOwn(v, p)) return undefined;
    v = (v as Record<string, unknown>)[p];
  }
  return v;
}

export function evaluatePerimeter(rule: PerimeterRule, input: PerimeterInput): boolean {
  if ('allOf' in rule) return rule.allOf.every((r) => evaluatePerimeter(r, input));
  if ('anyOf' in rule) return rule.anyOf.some((r) => evaluatePerimeter(r, input));
  if ('not' in rule) return !evaluatePerimeter(rule.not, input);
  const v = lookup(input, rule.claim);
  const norm = (x: unknown) => (rule.claim === 'email' && typeof x === 'string' ? x.toLowerCase() : x);
  if (rule.present !== undefined) return (v !== undefined && v !== null) === rule.present;
  if (rule.equals !== undefined) return v === norm(rule.equals);
  if (rule.oneOf !== undefined) return rule.oneOf.some((o) => v === norm(o));
  if (rule.endsWith !== undefined) return typeof v === 'string' && v.endsWith(norm(rule.endsWith) as string);
  if (rule.matches !== undefined) return typeof v === 'string' && new RegExp(rule.matches, 'u').test(v);
  if (rule.includes !== undefined)
    return Array.isArray(v) ? v.includes(rule.includes) : typeof v === 'string' && v.split(/\s+/).includes(String(rule.includes));
  return false;
}
