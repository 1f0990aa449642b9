import { randomBytes } from 'node:crypto';
import type { Core } from '../context.ts';
import { invalid } from '../errors.ts';
import { MAX_RANDOM, type Caller } from '../types.ts';
import { authorize, event, run } from './pipeline.ts';

export async function random(core: Core, c: Caller, bytes: number): Promise<Buffer> {
  return run(core, c, 'random', null, async () => {
    if (!Number.isInteger(bytes) || bytes < 1 || bytes > MAX_RANDOM) throw invalid(`random bytes: 1 to ${MAX_RANDOM}`, 'length');
    await authorize(c, 'random');
    await core.audit.record(event(core, c, 'random', null, 'allowed', undefined, { bytes }));
    return randomBytes(bytes);
  });
}
