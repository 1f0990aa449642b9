export interface AuditEvent {
  at: Date;
  tenantId: string | null;
  dialect: string;
  principal: string;
  action: string;
  keyId: string | null;
  outcome: 'allowed' | 'denied' | 'failed';
  errorKind?: string | null | undefined;
  requestId?: string | null | undefined;
  details?: Record<string, unknown> | null | undefined;
}

/** An event of the gateway itself about its audit trail; `failed` ones the verifier reports as tampering. */
export function systemEvent(action: string, outcome: AuditEvent['outcome'], details: Record<string, unknown>): AuditEvent {
  return {
    at: new Date(),
    tenantId: null,
    dialect: 'core',
    principal: 'polykms',
    action,
    keyId: null,
    outcome,
    errorKind: outcome === 'failed' ? 'tampered' : null,
    details,
  };
}

/** NUL, and UTF-16 halves without their pair (which no UTF-8 text can hold). */
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const UNSTORABLE_ONE = new RegExp(UNSTORABLE.source);
/** True when PostgreSQL could not store this text (see `storable`): names and descriptions with it are refused. */
export const unstorableText = (s: string) => UNSTORABLE_ONE.test(s);
const MAYBE = /\u0000|[\uD800-\uDFFF]/;
/** The same in JSON text: JSON.stringify escapes both (`\u0000`, `\ud800`). */
const MAYBE_JSON = /\\u0000|\\ud[89a-f][0-9a-f]{2}/i;
/**
 * PostgreSQL stores no NUL character and no unpaired surrogate in text or jsonb: one in a token's
 * claim, a header or a request's `reason` would fail its whole batch, again at every retry. Each
 * becomes U+FFFD before the event is MACed and buffered.
 */
export function storable(e: AuditEvent): AuditEvent {
  const strings = [e.dialect, e.principal, e.action, e.errorKind, e.requestId];
  let details = '';
  try {
    details = e.details ? JSON.stringify(e.details) : '';
  } catch {
    // BigInt or a cycle: keep what can be said about it rather than fail the caller or the batch.
    return storable({ ...e, details: { unserializable: true } });
  }
  if (!strings.some((v) => v !== undefined && v !== null && MAYBE.test(v)) && !MAYBE_JSON.test(details)) return e;
  const clean = <T>(v: T): T =>
    (typeof v === 'string'
      ? v.replace(UNSTORABLE, '\ufffd')
      : Array.isArray(v)
        ? v.map(clean)
        : v && typeof v === 'object' && !(v instanceof Date)
          ? Object.fromEntries(Object.entries(v).map(([k, x]) => [clean(k), clean(x)]))
          : v) as T;
  return {
    ...e,
    dialect: clean(e.dialect),
    principal: clean(e.principal),
    action: clean(e.action),
    errorKind: clean(e.errorKind),
    requestId: clean(e.requestId),
    details: clean(e.details),
  };
}
