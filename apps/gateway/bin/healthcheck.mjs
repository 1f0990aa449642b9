#!/usr/bin/env node
// The container's health check: GET /readyz on the admin port over loopback, HTTPS verified against the
// gateway CA the gateway writes into its data directory (plain HTTP when POLYKMS_ADMIN_TLS is off,
// which the gateway allows on loopback only). Plain Node, no tsx: it runs every few seconds.
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';

const env = process.env;
const port = Number(env.POLYKMS_ADMIN_PORT || 8440);
const plain = /^(off|false|0|no)$/i.test(env.POLYKMS_ADMIN_TLS ?? '');
const fail = (why) => {
  console.error(`unhealthy: ${why}`);
  process.exit(1);
};
let ca;
if (!plain) {
  try {
    ca = readFileSync(env.POLYKMS_ADMIN_CA_FILE || join(env.POLYKMS_DATA_DIR || './data', 'ca.pem'));
  } catch (e) {
    fail(`no gateway CA yet (${e.message})`);
  }
}
const req = (plain ? httpRequest : httpsRequest)(
  { host: '127.0.0.1', port, path: '/readyz', agent: false, timeout: 2500, ...(plain ? {} : { ca }) },
  (res) => {
    res.resume();
    if (res.statusCode === 200) process.exit(0);
    fail(`/readyz answered ${res.statusCode}`);
  },
);
req.on('timeout', () => req.destroy(new Error('no answer in 2.5 s')));
req.on('error', (e) => fail(e.message));
req.end();
