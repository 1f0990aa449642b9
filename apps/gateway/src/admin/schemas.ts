import { z } from 'zod';
import { CURVES, DEACTIVATION_REASONS, DESCRIPTION_MAX, KEY_KINDS, KEY_OPS, KEY_STATES, NAME_MAX, SIZES } from '@polykms/core';

/** Request bodies and queries of the admin API, strict: an unknown field is refused. */
const Name = z.string().min(1).max(NAME_MAX);
const Description = z.string().max(DESCRIPTION_MAX);
const Op = z.enum(KEY_OPS, { error: `must be one of ${KEY_OPS.join(', ')}` });
const PAGE = { error: 'must be a whole number from 1 to 1000' };
const PageSize = z.coerce.number(PAGE).int(PAGE).min(1, PAGE).max(1000, PAGE);

export const CreateTenant = z.strictObject({ name: Name });

// One schema per key type, so "an EC key takes a curve" is said by the schema, not found later.
const Size = (kind: 'oct' | 'RSA' | 'HMAC') =>
  z
    .number({ error: `must be one of ${SIZES[kind].join(', ')} (bits)` })
    .refine((n) => SIZES[kind].includes(n), { error: `must be one of ${SIZES[kind].join(', ')} (bits)` });
const Operations = z.array(Op).min(1, { error: 'choose at least one operation' }).max(KEY_OPS.length);
export const CreateKey = z.discriminatedUnion(
  'type',
  [
    z.strictObject({
      type: z.literal('oct'),
      name: Name,
      description: Description.optional(),
      size: Size('oct'),
      operations: Operations.optional(),
    }),
    z.strictObject({
      type: z.literal('RSA'),
      name: Name,
      description: Description.optional(),
      size: Size('RSA'),
      operations: Operations.optional(),
    }),
    z.strictObject({
      type: z.literal('EC'),
      name: Name,
      description: Description.optional(),
      curve: z.enum(CURVES, { error: `must be one of ${CURVES.join(', ')}` }),
      operations: Operations.optional(),
    }),
    z.strictObject({
      type: z.literal('HMAC'),
      name: Name,
      description: Description.optional(),
      size: Size('HMAC'),
      operations: Operations.optional(),
    }),
  ],
  { error: 'must be one of oct, RSA, EC, HMAC' },
);

export const UpdateKey = z
  .strictObject({ name: Name.optional(), description: Description.optional() })
  .refine((b) => b.name !== undefined || b.description !== undefined, {
    message: 'give a name or a description to change',
  });
export const Deactivate = z.strictObject({ reason: z.enum(DEACTIVATION_REASONS).optional() });
export const ScheduleDeletion = z.strictObject({ pendingDays: z.number().int().min(0).max(3650) });
export const Empty = z.strictObject({});

export const ListKeys = z.strictObject({
  limit: PageSize.optional(),
  cursor: z.string().max(200).optional(),
  state: z.enum(KEY_STATES).optional(),
  type: z.enum(KEY_KINDS).optional(),
  search: z.string().max(NAME_MAX).optional(),
});
const Time = z.iso.datetime({ offset: true, error: 'must be an ISO 8601 time, e.g. 2026-03-01T10:00:00Z' }).transform((t) => new Date(t));
const Filter = z.string().min(1).max(256);
export const ListAudit = z.strictObject({
  tenant: z.string().min(1).max(NAME_MAX).optional(),
  key: z.string().optional(),
  dialect: Filter.optional(),
  principal: Filter.optional(),
  action: Filter.optional(),
  outcome: z.enum(['allowed', 'denied', 'failed']).optional(),
  since: Time.optional(),
  until: Time.optional(),
  hideConsoleReads: z.enum(['true', 'false']).optional(),
  limit: PageSize.optional(),
  before: z.string().max(100).optional(),
});

/** The console's own page loads: every view reads keys, and would bury everything else in the trail. */
export const CONSOLE_READS = {
  dialect: 'admin',
  principal: 'admin-console',
  actions: ['key.get', 'key.list'],
} as const;

/** Per-minute counts of the last hour (see RecentCounts in @polykms/http). */
export interface RecentTraffic {
  from: string;
  minutes: number;
  dialects: Record<string, { requests: number[]; errors: number[] }>;
}

export interface AdminOptions {
  /** This process's recent traffic; absent when metrics are off. */
  traffic?: (() => RecentTraffic) | undefined;
  /** The running KACLS configuration, summarized by `cseSummary`; absent when CSE is not served. */
  cse?: Record<string, unknown> | undefined;
}

/** An anchor kept outside the database (a log line's `head`), which must still be in the trail. */
export const VerifyAudit = z.strictObject({
  anchor: z.strictObject({ seq: z.string().regex(/^[1-9][0-9]{0,18}$/), chain: z.string().regex(/^[0-9a-fA-F]{64}$/) }).optional(),
});
export const Link = z.strictObject({ dialect: z.enum(['ovh', 'huawei', 'cse']), id: z.string().min(1).max(256) });
