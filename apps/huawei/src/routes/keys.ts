/**
 * Huawei KMS key lifecycle (huawei-kms.md §2.1; https://support.huaweicloud.com/api-dew/dew_02_0002.html):
 * CreateKey, ListKeyDetail (describe-key), ListKeys, EnableKey, DisableKey, DeleteKey
 * (schedule-key-deletion), CancelKeyDeletion, UpdateKeyAlias, UpdateKeyDescription,
 * ShowUserInstances, ShowUserQuotas.
 */
import type { KeyRecord, KeyState, Kms } from '@polykms/core';
import { body, caller, keyIdOf, requireAction, type HuaweiContext, type Route } from '../app.ts';
import { HuaweiError } from '../errors.ts';
import { coreSpec, huaweiState, keyDetails, keySpecOf, opsFor } from '../mapper.ts';
import * as S from '../schemas.ts';

/** A CMK quota per project, as user-quotas reports it (polykms itself sets no limit below core's). */
export const CMK_QUOTA = 10_000;

const STATE_FILTER: Record<string, KeyState[]> = {
  '1': ['pre_active'],
  '2': ['active'],
  '3': ['deactivated', 'compromised'],
  '4': ['pending_deletion'],
  '5': ['pending_import'],
};

/** Every key of the project that Huawei would show (destroyed keys are gone), in creation order. */
export async function allKeys(kms: Kms, c: HuaweiContext): Promise<KeyRecord[]> {
  const out: KeyRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = await kms.listKeys(caller(c), {
      limit: 1000,
      cursor,
      states: ['pre_active', 'active', 'deactivated', 'compromised', 'pending_deletion', 'pending_import'],
    });
    out.push(...page.keys);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return out;
}

/** describe-key and friends: a destroyed key no longer exists for Huawei's clients. */
async function liveKey(kms: Kms, c: HuaweiContext, keyId: string): Promise<KeyRecord> {
  const k = await kms.getKey(caller(c), keyId);
  if (k.state === 'destroyed') throw new HuaweiError('0207');
  return k;
}

const flat = (k: KeyRecord) => ({ key_id: k.id, key_state: huaweiState(k.state) });

export function keyRoutes(kms: Kms, route: Route) {
  route('post', '/create-key', async (c) => {
    const req = body(c, S.CreateKey);
    if (req.key_alias.endsWith('/default'))
      throw new HuaweiError('1101', 'An alias ending with /default is reserved for default master keys.');
    const spec = coreSpec(req.key_spec ?? 'AES_256');
    const ops = opsFor(spec, req.key_usage);
    // origin external: the key waits, pending import ("5"), for the material the customer brings (routes/import.ts).
    const external = req.origin === 'external';
    if (external && spec.kind === 'OKP')
      throw new HuaweiError(
        '0308',
        'origin external is available here for AES, HMAC, RSA and EC keys; ED25519 material cannot be imported.',
      );
    const k = await kms.createKey(caller(c), {
      name: req.key_alias,
      alias: req.key_alias,
      description: req.key_description ?? '',
      spec,
      ops,
      pendingImport: external,
      attributes: {
        domain_id: c.get('identity').user.domainId,
        ...(req.realm !== undefined ? { realm: req.realm } : {}),
        ...(req.enterprise_project_id !== undefined ? { enterprise_project_id: req.enterprise_project_id } : {}),
      },
    });
    return c.json({ key_info: { key_id: k.id, domain_id: c.get('identity').user.domainId } });
  });

  route('post', '/describe-key', async (c) => {
    const req = body(c, S.KeyRefOnly);
    return c.json({ key_info: keyDetails(await liveKey(kms, c, await keyIdOf(kms, c, req.key_id))) });
  });

  route('post', '/list-keys', async (c) => {
    const req = body(c, S.ListKeys);
    const limit = req.limit === undefined ? 1000 : S.intOf(req.limit, '1601', 'limit');
    if (limit < 1 || limit > 1000) throw new HuaweiError('1601', 'limit is 1 to 1000.');
    const marker = req.marker === undefined || req.marker === '' ? 0 : S.intOf(req.marker, '1602', 'marker');
    if (marker < 0) throw new HuaweiError('1602');
    const spec = req.key_spec ?? 'AES_256';
    const states = req.key_state === undefined ? undefined : STATE_FILTER[String(req.key_state)];
    const matching = (await allKeys(kms, c)).filter(
      (k) => (spec === 'ALL' || keySpecOf(k) === spec) && (!states || states.includes(k.state)),
    );
    const page = matching.slice(marker, marker + limit);
    const truncated = marker + page.length < matching.length;
    return c.json({
      keys: page.map((k) => k.id),
      key_details: page.map(keyDetails),
      // Python clients loop while next_marker is non-empty: "" on the last page (huawei-kms.md §7.6).
      next_marker: truncated ? String(marker + page.length) : '',
      truncated: truncated ? 'true' : 'false',
      total: matching.length,
    });
  });

  route('post', '/enable-key', async (c) => {
    const req = body(c, S.KeyOnly);
    return c.json({ key_info: flat(await kms.activate(caller(c), req.key_id)) });
  });

  route('post', '/disable-key', async (c) => {
    const req = body(c, S.KeyOnly);
    return c.json({ key_info: flat(await kms.deactivate(caller(c), req.key_id)) });
  });

  route('post', '/schedule-key-deletion', async (c) => {
    const req = body(c, S.ScheduleKeyDeletion);
    const days = S.intOf(req.pending_days, '1401', 'pending_days');
    if (days < 7 || days > 1096) throw new HuaweiError('1401');
    // Huawei schedules an enabled key directly; core deactivates it in the same transaction.
    return c.json(flat(await kms.scheduleDeletion(caller(c), req.key_id, days, { deactivate: true })));
  });

  route('post', '/cancel-key-deletion', async (c) => {
    const req = body(c, S.KeyOnly);
    // The key comes back disabled ("3"), as Huawei's example shows.
    return c.json(flat(await kms.cancelDeletion(caller(c), req.key_id)));
  });

  route('post', '/update-key-alias', async (c) => {
    const req = body(c, S.UpdateKeyAlias);
    requireAction(c, 'key.update');
    if (req.key_alias.endsWith('/default'))
      throw new HuaweiError('1101', 'An alias ending with /default is reserved for default master keys.');
    const k = await liveKey(kms, c, req.key_id);
    if (k.state === 'pending_deletion') throw new HuaweiError('0210');
    const u = await kms.updateKey(caller(c), req.key_id, { alias: req.key_alias, name: req.key_alias });
    return c.json({ key_info: { key_id: u.id, key_alias: u.alias } });
  });

  route('post', '/update-key-description', async (c) => {
    const req = body(c, S.UpdateKeyDescription);
    requireAction(c, 'key.update');
    const k = await liveKey(kms, c, req.key_id);
    if (k.state === 'pending_deletion') throw new HuaweiError('0210');
    const u = await kms.updateKey(caller(c), req.key_id, { description: req.key_description });
    return c.json({ key_info: { key_id: u.id, key_description: u.description } });
  });

  route('get', '/user-instances', async (c) => c.json({ instance_num: (await allKeys(kms, c)).length }));

  route('get', '/user-quotas', async (c) => {
    const used = (await allKeys(kms, c)).length;
    return c.json({
      quotas: {
        resources: [
          { type: 'CMK', used, quota: CMK_QUOTA },
          { type: 'grant_per_CMK', used: 0, quota: 100 },
        ],
      },
    });
  });
}
