import { expect } from 'vitest';
import type { Kms } from '@polykms/core';
import { openTestKms, type Backend } from '@polykms/core/testing';
import { gatewayCa, type Ca } from '@polykms/pki';
import { ovhControlApp, startOvhServer, type OvhServer } from '../src/index.ts';
import type { Creds } from './client.ts';

export interface ControlReply {
  status: number;
  text: string;
  json: any;
}

export interface OvhWorld {
  kms: Kms;
  server: OvhServer;
  ca: Ca;
  /** The control plane (/v2/okms/..., /admin/ovh/...) called in process, as the admin port serves it. */
  ctl: (method: string, path: string, body?: unknown) => Promise<ControlReply>;
  /** A new mTLS credential of `domain`, created (201) and read back READY through the control plane. */
  credential: (domain: string, identityURNs: string[], extra?: Record<string, unknown>) => Promise<Creds & { id: string }>;
  /** Stops the listener, closes the store and drops its database. */
  close: () => Promise<void>;
}

/** A store for one test file with the OVH listener and control plane on it, from `beforeAll`. */
export async function openOvh(backend: Backend): Promise<OvhWorld> {
  const { kms, drop } = await openTestKms(backend);
  let server: OvhServer | undefined;
  const close = async () => {
    await server?.close();
    await kms.close();
    await drop();
  };
  try {
    const ca = await gatewayCa(kms);
    server = await startOvhServer(kms, ca, { host: '127.0.0.1', port: 0 });
    const control = ovhControlApp(kms, async () => ca, { restEndpoint: server.url, swaggerEndpoint: server.url });
    const ctl = async (method: string, path: string, body?: unknown) => {
      const r = await control.request(path, { method, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await r.text();
      return { status: r.status, text, json: text ? JSON.parse(text) : undefined };
    };
    const credential = async (domain: string, identityURNs: string[], extra: Record<string, unknown> = {}) => {
      const created = await ctl('POST', `/v2/okms/resource/${domain}/credential`, { name: 'test', identityURNs, ...extra });
      expect(created.status, created.text).toBe(201);
      const got = await ctl('GET', `/v2/okms/resource/${domain}/credential/${created.json.id}`);
      expect(got.json.status).toBe('READY');
      return {
        id: created.json.id as string,
        cert: got.json.certificatePEM as string,
        key: created.json.privateKeyPEM as string,
        ca: ca.certPem,
      };
    };
    return { kms, server, ca, ctl, credential, close };
  } catch (e) {
    await close();
    throw e;
  }
}
