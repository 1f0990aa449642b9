import { createPublicKey } from 'node:crypto';
import type { Core } from '../context.ts';
import { KmsError, notFound } from '../errors.ts';
import type { Caller, KeyRecord } from '../types.ts';
import { allowed, authorize, event, run } from './pipeline.ts';
import { keyRow, storedVersion, toRecord } from './rows.ts';

export async function getKey(core: Core, c: Caller, keyId: string): Promise<KeyRecord> {
  return run(core, c, 'key.get', keyId, async () => {
    const key = toRecord(await keyRow(core, c, keyId));
    await authorize(c, 'key.get', key, core.db);
    await core.audit.record(event(core, c, 'key.get', keyId, 'allowed'));
    return key;
  });
}

export async function getPublicKey(core: Core, c: Caller, keyId: string, opts: { version?: number } = {}) {
  return run(core, c, 'key.get_public_key', keyId, async () => {
    const row = await keyRow(core, c, keyId);
    const key = toRecord(row);
    await authorize(c, 'key.get_public_key', key, core.db);
    if (key.kind !== 'RSA' && key.kind !== 'EC' && key.kind !== 'OKP')
      throw new KmsError('unsupported', `a ${key.kind} key has no public key`, 'key_usage');
    if (key.state === 'pending_import')
      throw new KmsError('failed_precondition', 'the key is pending import: it has no public key yet', 'key_state');
    const version = opts.version ?? key.currentVersion;
    const v = await storedVersion(core.db, key.tenantId, key.id, version);
    if (!v?.public_spki) throw notFound('key version');
    const spki = Buffer.from(v.public_spki);
    const pub = createPublicKey({ key: spki, format: 'der', type: 'spki' });
    await allowed(core, c, 'key.get_public_key', keyId, { version });
    return {
      keyId,
      version,
      spki,
      pem: pub.export({ format: 'pem', type: 'spki' }) as string,
      jwk: pub.export({ format: 'jwk' }) as Record<string, string>,
    };
  });
}
