import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export { freePort } from '@polykms/core/testing';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const rootKey = () => randomBytes(32).toString('base64');
export const adminToken = () => randomBytes(24).toString('base64url');

export interface Child {
  proc: ChildProcess;
  pid: number;
  /** The JSON line that said the process is listening. */
  ready: any;
  /** Log lines at level error (50) or above, as they came (pino JSON). */
  errors: any[];
  /** The last lines of output, for a failure report. */
  tail(): string;
  alive(): boolean;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL: no shutdown handler runs. */
  kill(): Promise<void>;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts `node <args>` from the repository root and waits for a JSON log line for which `isReady`
 * holds (the gateway's "listening" line carries `urls`).
 */
export function startChild(args: string[], env: NodeJS.ProcessEnv, isReady: (line: any) => boolean, timeoutMs = 90_000): Promise<Child> {
  const proc = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const errors: any[] = [];
  let alive = true;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    proc.once('exit', (code, signal) => {
      alive = false;
      r({ code, signal });
    }),
  );
  return new Promise((resolveReady, rejectReady) => {
    let settled = false;
    const child: Child = {
      proc,
      pid: proc.pid!,
      ready: undefined,
      errors,
      tail: () => lines.slice(-30).join('\n'),
      alive: () => alive,
      exited,
      async kill() {
        if (alive) proc.kill('SIGKILL');
        await exited;
      },
      async stop(graceMs = 10_000) {
        if (!alive) return;
        proc.kill('SIGTERM');
        const t = setTimeout(() => alive && proc.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(t);
      },
    };
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      proc.kill('SIGKILL');
      rejectReady(new Error(`process did not become ready in ${timeoutMs} ms:\n${child.tail()}`));
    }, timeoutMs);
    const onLine = (line: string) => {
      if (!line.trim()) return;
      lines.push(line.length > 2000 ? `${line.slice(0, 2000)}...` : line);
      if (lines.length > 200) lines.shift();
      let j: any;
      try {
        j = JSON.parse(line);
      } catch {
        return;
      }
      if (typeof j.level === 'number' && j.level >= 50) errors.push(j);
      if (!settled && isReady(j)) {
        settled = true;
        clearTimeout(timer);
        child.ready = j;
        resolveReady(child);
      }
    };
    for (const stream of [proc.stdout!, proc.stderr!]) {
      let buf = '';
      stream.setEncoding('utf8');
      stream.on('data', (d: string) => {
        buf += d;
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          onLine(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
      });
    }
    void exited.then(({ code, signal }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      rejectReady(new Error(`process exited (code ${code}, signal ${signal}) before it was ready:\n${child.tail()}`));
    });
  });
}

export interface GatewayOptions {
  dataDir: string;
  databaseUrl?: string | undefined;
  rootKey: string;
  adminToken: string;
  adminPort: number;
  ovhPort: number;
  logLevel?: string;
}

/** The real gateway process, `node apps/gateway/bin/polykms.mjs serve`, serving OVH. */
export async function startGateway(o: GatewayOptions) {
  const env: NodeJS.ProcessEnv = {
    POLYKMS_DATA_DIR: o.dataDir,
    DATABASE_URL: o.databaseUrl ?? '',
    POLYKMS_ROOT_KEY: o.rootKey,
    POLYKMS_ADMIN_TOKEN: o.adminToken,
    POLYKMS_ADMIN_PORT: String(o.adminPort),
    POLYKMS_OVH_PORT: String(o.ovhPort),
    POLYKMS_DIALECTS: 'ovh',
    POLYKMS_HOST: '127.0.0.1',
    POLYKMS_LOG_LEVEL: o.logLevel ?? 'info',
    POLYKMS_CONFIG: '',
  };
  const child = await startChild(['apps/gateway/bin/polykms.mjs', 'serve'], env, (j) => j.urls && j.urls.admin && j.urls.ovh);
  return { child, urls: child.ready.urls as { admin: string; ovh: string } };
}
