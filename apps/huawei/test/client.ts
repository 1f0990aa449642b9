import { Agent } from 'node:https';
import { createRequire } from 'node:module';
import { httpsCall } from '@polykms/http/testing';

export type { Reply } from '@polykms/http/testing';

/** One HTTPS call as a raw-HTTP Huawei client makes it (Terraform, curl): JSON body, the gateway CA trusted. */
export const call = (base: string, ca: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  httpsCall(base, { ca }, method, path, body, headers, 'application/json;charset=UTF-8');

/**
 * The official Node SDK core (@huaweicloud/huaweicloud-sdk-core 3.1.211) doing the whole request:
 * BasicCredentials + HcClient + DefaultHttpClient (axios), exactly as the generated KmsClient calls
 * `sendRequest` (the KMS service package is not on the registry; huawei-sdk-wire.md §5). ClientBuilder
 * is not used because the published core requires `uuid` without declaring it; what it would build
 * is built here by hand, with a silent logger (the SDK logs Authorization headers on errors).
 */
export function sdkKmsClient(endpoint: string, ca: string, creds: { ak: string; sk: string; projectId: string }) {
  const require = createRequire(import.meta.url);
  const { BasicCredentials } = require('@huaweicloud/huaweicloud-sdk-core') as { BasicCredentials: new () => any };
  const { HcClient } = require('@huaweicloud/huaweicloud-sdk-core/HcClient') as { HcClient: new (c: unknown) => any };
  const { DefaultHttpClient } = require('@huaweicloud/huaweicloud-sdk-core/http/DefaultHttpClient') as {
    DefaultHttpClient: new (o: unknown, e: string[]) => unknown;
  };
  const silent = { debug() {}, info() {}, warn() {}, error() {} };
  const http = new DefaultHttpClient(
    {
      logger: silent,
      headers: { 'User-Agent': 'huaweicloud-usdk-nodejs/3.0; polykms-test' },
      axiosRequestConfig: { httpsAgent: new Agent({ ca, keepAlive: true }) },
    },
    [endpoint],
  );
  const credential = new BasicCredentials().withAk(creds.ak).withSk(creds.sk).withProjectId(creds.projectId);
  const client = new HcClient(http).withCredential(credential).withEndpoints([endpoint]);
  client.logger = silent;
  const send = (method: 'GET' | 'POST' | 'DELETE', url: string, data?: unknown, queryParams: Record<string, string> = {}): Promise<any> =>
    client.sendRequest({
      method,
      url,
      contentType: 'application/json;charset=UTF-8',
      queryParams,
      pathParams: {},
      headers: { 'Content-Type': 'application/json;charset=UTF-8' },
      ...(data === undefined ? {} : { data }),
    });
  return {
    /** Resolves with the raw JSON body plus httpStatusCode; rejects with the SDK's exception. */
    post: (verb: string, data: unknown) => send('POST', `/v1.0/{project_id}/kms/${verb}`, data),
    /** Any method and query, as the generated KmsClient sends list-aliases (GET + query) and delete-alias (DELETE + body). */
    send: (method: 'GET' | 'POST' | 'DELETE', verb: string, data?: unknown, query?: Record<string, string>) =>
      send(method, `/v1.0/{project_id}/kms/${verb}`, data, query),
  };
}
