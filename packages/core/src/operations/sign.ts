import type { Core } from '../context.ts';
import { signWith, verifyWith, type SignParams } from '../crypto.ts';
import { invalid } from '../errors.ts';
import { MAX_PLAINTEXT, type Caller, type KeyRecord } from '../types.ts';
import { allowed, run } from './pipeline.ts';
import { useKey } from './usekey.ts';

/** `params` may depend on the key (JOSE names bind the curve): pass a function of the key record. */
export async function sign(
  core: Core,
  c: Caller,
  keyId: string,
  params: SignParams | ((k: KeyRecord) => SignParams),
  input: Uint8Array,
  opts: { activeOnly?: boolean } = {},
) {
  return run(core, c, 'key.sign', keyId, async () => {
    if (input.length > MAX_PLAINTEXT) throw invalid(`the message is at most ${MAX_PLAINTEXT} bytes`, 'message_size');
    const { key, version, loaded } = await useKey(core, c, 'key.sign', keyId, 'sign', undefined, opts.activeOnly);
    const p = typeof params === 'function' ? params(key) : params;
    const signature = await signWith(loaded, p, input);
    await allowed(core, c, 'key.sign', keyId, { version, scheme: p.scheme, hash: p.hash, prehashed: !!p.prehashed });
    return { keyId, version, signature };
  });
}

/** `version` defaults to current; a signature that does not verify is `false`, not an error. */
export async function verify(
  core: Core,
  c: Caller,
  keyId: string,
  params: SignParams | ((k: KeyRecord) => SignParams),
  input: Uint8Array,
  signature: Uint8Array,
  opts: { version?: number; activeOnly?: boolean } = {},
) {
  return run(core, c, 'key.verify', keyId, async () => {
    if (input.length > MAX_PLAINTEXT) throw invalid(`the message is at most ${MAX_PLAINTEXT} bytes`, 'message_size');
    const { key, version, loaded } = await useKey(core, c, 'key.verify', keyId, 'verify', opts.version, opts.activeOnly);
    const valid = await verifyWith(loaded, typeof params === 'function' ? params(key) : params, input, signature);
    await allowed(core, c, 'key.verify', keyId, { version, valid });
    return { keyId, version, valid };
  });
}
