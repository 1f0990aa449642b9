import type { Kms } from '@polykms/core';
import type { LoadRequest } from './load.ts';
import type { Operation, RefMaterial } from './baselines.ts';

/** One row of a dialect suite: what the load generator sends to the gateway, and to each reference. */
export interface PlannedRow {
  scenario: string;
  subject: LoadRequest;
  /** The first is the row's baseline (its ratio is the one the goals speak of), the others are reported beside it. */
  references: { name: string; request: LoadRequest }[];
}

/** What a dialect suite set up in the gateway's process tells the bench, as plain data (it may cross processes). */
export interface Plan {
  port: number;
  /** How a client connects (CA, and for OVH the client certificate); the reference servers take the same. */
  tls: { ca: string; cert?: string; key?: string; servername: string };
  mtls: boolean;
  /** The gateway's CA, so that the reference servers present a certificate from it, as the gateway does. */
  ca: { certPem: string; key: string };
  material: RefMaterial;
  rows: PlannedRow[];
}

export interface DialectBench {
  plan: Plan;
  /** Background work a slice leaves behind (the audit buffer), done untimed before the next. */
  settle(): Promise<unknown>;
  close(): Promise<void>;
}

/**
 * A dialect suite: `setup` runs where the gateway's listener runs (with the store and observability
 * `pnpm start` has), `referenceOps` where the reference server runs: the row's cryptography alone.
 */
export interface DialectSuite {
  setup(concurrency: number): Promise<DialectBench>;
  referenceOps(material: RefMaterial): Record<string, Operation>;
}

/** The gateway's CA as stored (pki/ca), for a reference server in another process. */
export async function caMaterial(kms: Kms): Promise<Plan['ca']> {
  const stored = await kms.secrets.get('pki/ca');
  if (!stored) throw new Error('the gateway has no CA yet');
  return JSON.parse(stored.toString('utf8')) as Plan['ca'];
}

/** A JSON POST for the load generator. */
export const postRequest = (path: string, body: unknown, headers?: Record<string, string>): LoadRequest => ({
  method: 'POST',
  path,
  body: JSON.stringify(body),
  ...(headers ? { headers } : {}),
});
