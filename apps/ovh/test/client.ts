import { httpsCall, type ClientTls } from '@polykms/http/testing';

export type { Reply } from '@polykms/http/testing';
export type Creds = ClientTls;

/** An HTTPS call as OVH's clients make it: JSON body, client certificate, the gateway CA trusted. */
export const call = (base: string, creds: Creds, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  httpsCall(base, creds, method, path, body, headers);
