import type { Selectable } from 'kysely';
import type { AuditEventsTable } from './db/schema.ts';

/** An audit event as its row's columns, before it is sealed. */
export type SealInput = Omit<Selectable<AuditEventsTable>, 'id' | 'mac' | 'seq' | 'chain'>;
export declare function eventMac(key: Uint8Array, e: SealInput): Buffer;
export declare function link(key: Uint8Array, prev: Uint8Array, seq: bigint, mac: Uint8Array): Buffer;
export declare function headMac(key: Uint8Array, seq: string | bigint, chain: Uint8Array, legacyMaxId: string | bigint): Buffer;
export declare function unsealedRows(events: SealInput[]): string;
export declare function sealBatch(
  key: Uint8Array,
  head: { seq: string; chain: Uint8Array },
  events: SealInput[],
): { rows: string; seq: string; chain: Uint8Array };
