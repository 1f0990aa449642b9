export interface SealInput {
  at: Date;
  tenant_id: string | null;
  dialect: string;
  principal: string;
  action: string;
  key_id: string | null;
  outcome: string;
  error_kind: string | null;
  request_id: string | null;
  details: Record<string, unknown> | null;
}
export declare function eventMac(key: Uint8Array, e: SealInput): Buffer;
export declare function link(key: Uint8Array, prev: Uint8Array, seq: bigint, mac: Uint8Array): Buffer;
export declare function sealBatch(key: Uint8Array | undefined, head: { seq: string; chain: Uint8Array } | undefined, events: SealInput[]): { rows: string; seq: string; chain: Uint8Array | null };
