// Profiling entry: one core scenario alone, e.g. `node --cpu-prof --import tsx bench/profile-core.ts rsa|ec|aes`.
import { randomBytes } from 'node:crypto';
import type { Caller, SignParams } from '@polykms/core';
import { openBenchKms } from './store.ts';
import { closedLoop } from './harness.ts';
const { kms, close } = await openBenchKms('profile');
const t = await kms.tenants.create('b');
const c: Caller = { tenantId: t.id, dialect: 'b', principal: 'b' };
const scen = process.argv[2] ?? 'rsa';
const k = await kms.createKey(c, {
  name: 'b',
  spec: scen === 'rsa' ? { kind: 'RSA', size: 2048 } : scen === 'ec' ? { kind: 'EC', curve: 'P-256' } : { kind: 'oct', size: 256 },
});
const p: SignParams = scen === 'rsa' ? { scheme: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } : { scheme: 'ECDSA', hash: 'SHA-256' };
const msg = randomBytes(256);
const op = scen === 'aes' ? () => kms.encrypt(c, k.id, randomBytes(1024)) : () => kms.sign(c, k.id, p, msg);
await closedLoop(op, 32, 500);
const m = await closedLoop(op, 32, 3000);
console.log(scen, m.opsPerSec.toFixed(0));
await close();
