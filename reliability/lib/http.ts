import { connect as tlsConnect } from 'node:tls';
import { Agent, request } from 'undici';

/** A hang, as the issue defines it: no complete answer within this time. */
export const HANG_MS = 10_000;

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
  ms: number;
}

export interface TlsCreds {
  ca: string;
  cert?: string | undefined;
  key?: string | undefined;
}

/** What went wrong on the wire, when there is no HTTP answer. */
export class NoAnswer extends Error {
  constructor(
    readonly kind: 'hang' | 'reset' | 'refused' | 'client',
    message: string,
    readonly ms: number,
  ) {
    super(message);
  }
}

export interface Send {
  method: string;
  path: string;
  /** A JSON value (serialized), a string or bytes sent as they are, or nothing. */
  json?: unknown;
  raw?: string | Buffer | undefined;
  headers?: Record<string, string> | undefined;
  timeoutMs?: number | undefined;
}

/** One HTTPS (or HTTP) endpoint, one TLS identity, its own connection pool. */
export class Client {
  readonly agent: Agent;
  constructor(
    readonly base: string,
    creds?: TlsCreds,
    connections = 16,
  ) {
    this.agent = new Agent({
      connect: creds ? { ca: creds.ca, cert: creds.cert, key: creds.key, servername: 'localhost', rejectUnauthorized: true } : {},
      keepAliveTimeout: 2_000,
      connections,
    });
  }

  async send(s: Send): Promise<Reply> {
    const started = performance.now();
    const timeout = s.timeoutMs ?? HANG_MS;
    const headers: Record<string, string> = {};
    let body: string | Buffer | undefined;
    if (s.raw !== undefined) body = s.raw;
    else if (s.json !== undefined) {
      body = JSON.stringify(s.json);
      headers['content-type'] = 'application/json';
    }
    Object.assign(headers, s.headers ?? {});
    try {
      const r = await request(new URL(s.path, this.base), {
        method: s.method as 'GET',
        headers,
        body,
        dispatcher: this.agent,
        headersTimeout: timeout,
        bodyTimeout: timeout,
        signal: AbortSignal.timeout(timeout + 500),
      });
      const text = await r.body.text();
      let json: unknown;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        json = undefined;
      }
      return {
        status: r.statusCode,
        headers: r.headers as Reply['headers'],
        text,
        json,
        ms: Math.round(performance.now() - started),
      };
    } catch (e) {
      const ms = Math.round(performance.now() - started);
      const err = e as { code?: string; name?: string; message?: string; cause?: { code?: string } };
      const code = err.code ?? err.cause?.code ?? err.name ?? '';
      if (/Timeout|AbortError/i.test(code)) throw new NoAnswer('hang', `${s.method} ${s.path}: no answer in ${timeout} ms`, ms);
      if (code === 'ECONNREFUSED') throw new NoAnswer('refused', `${s.method} ${s.path}: connection refused`, ms);
      if (code === 'UND_ERR_INVALID_ARG' || code === 'ERR_INVALID_ARG_TYPE' || code === 'ERR_INVALID_CHAR')
        throw new NoAnswer('client', `${s.method} ${s.path}: the client refused to send this: ${err.message}`, ms);
      throw new NoAnswer('reset', `${s.method} ${s.path}: ${code} ${err.message ?? ''}`, ms);
    }
  }

  close() {
    return this.agent.destroy().catch(() => {});
  }
}

/**
 * Bytes written straight onto a TLS connection, for what an HTTP client refuses to send (a body
 * shorter than its Content-Length, broken chunked framing). Resolves with the status line's code,
 * or 0 when the server closed without answering or `waitMs` passed (both fine for broken framing).
 */
export function rawTls(
  url: string,
  creds: TlsCreds,
  bytes: Buffer,
  opts: { waitMs?: number; halfClose?: boolean } = {},
): Promise<{ status: number; text: string }> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ status: m ? Number(m[1]) : 0, text });
    };
    const sock = tlsConnect(
      {
        host: u.hostname === 'localhost' ? '127.0.0.1' : u.hostname,
        port: Number(u.port),
        servername: 'localhost',
        ca: creds.ca,
        cert: creds.cert,
        key: creds.key,
      },
      () => {
        sock.write(bytes);
        if (opts.halfClose) sock.end();
      },
    );
    const timer = setTimeout(finish, opts.waitMs ?? 3_000);
    sock.on('data', (d) => {
      chunks.push(d);
      // One answer is enough: stop at the end of the first response's headers plus a little body.
      if (Buffer.concat(chunks).includes('\r\n\r\n')) setTimeout(finish, 50);
    });
    sock.on('error', finish);
    sock.on('close', finish);
  });
}
