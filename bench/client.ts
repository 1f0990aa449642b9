import { connect, type ConnectionOptions, type TLSSocket } from 'node:tls';

/**
 * The load generator's HTTP/1.1 client: keep-alive TLS connections, one request in flight on each (no
 * pipelining), the request written as one buffer and the response parsed just enough (status, headers,
 * Content-Length or chunked body). It does what wrk does, on the load generator's own thread
 * (`load.ts`; the suites also use it in-process to set up), so that what the bench bills to the server
 * is the server's: undici spent ~100 us of the same two cores per request.
 */
export interface Reply {
  status: number;
  /** The header block as received (lower-case lookups through `header`). */
  head: string;
  body: string;
}

export const header = (r: Reply, name: string) => new RegExp(`\\r\\n${name}:[ \\t]*([^\\r\\n]*)`, 'i').exec(r.head)?.[1];

interface Waiter {
  resolve: (r: Reply) => void;
  reject: (e: Error) => void;
}

class Connection {
  private buf: Buffer = Buffer.alloc(0);
  private waiter: Waiter | undefined;
  dead = false;
  readonly ready: Promise<void>;
  constructor(
    readonly socket: TLSSocket,
    private readonly onFree: (c: Connection) => void,
  ) {
    this.ready = new Promise((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      this.parse();
    });
    const fail = (e: Error) => {
      this.dead = true;
      const w = this.waiter;
      this.waiter = undefined;
      w?.reject(e);
    };
    socket.on('error', fail);
    // A keep-alive connection the server closed as we reused it: nothing was answered, send it again.
    socket.on('close', () => fail(Object.assign(new Error('connection closed before the response'), { retry: this.buf.length === 0 })));
  }

  /** When the last response ended: servers close keep-alive connections idle for 5 s. */
  idleSince = performance.now();
  send(request: Buffer, w: Waiter) {
    this.waiter = w;
    this.socket.write(request);
  }

  private parse() {
    const end = this.buf.indexOf('\r\n\r\n');
    if (end < 0 || !this.waiter) return;
    const head = this.buf.toString('latin1', 0, end);
    const status = Number(head.slice(9, 12));
    let bodyEnd: number;
    let body: string;
    const length = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
    if (length) {
      bodyEnd = end + 4 + Number(length[1]);
      if (this.buf.length < bodyEnd) return;
      body = this.buf.toString('utf8', end + 4, bodyEnd);
    } else if (/\r\ntransfer-encoding:[ \t]*chunked/i.test(head)) {
      const parts: Buffer[] = [];
      let at = end + 4;
      for (;;) {
        const eol = this.buf.indexOf('\r\n', at);
        if (eol < 0) return;
        const size = parseInt(this.buf.toString('latin1', at, eol), 16);
        if (size === 0) {
          if (this.buf.length < eol + 4) return;
          bodyEnd = eol + 4;
          break;
        }
        if (this.buf.length < eol + 2 + size + 2) return;
        parts.push(this.buf.subarray(eol + 2, eol + 2 + size));
        at = eol + 2 + size + 2;
      }
      body = Buffer.concat(parts).toString('utf8');
    } else {
      // 204 and 304 have no body; the servers measured here send a length with every other one.
      bodyEnd = end + 4;
      body = '';
    }
    this.buf = this.buf.subarray(bodyEnd);
    const w = this.waiter;
    this.waiter = undefined;
    if (/\r\nconnection:[ \t]*close/i.test(head)) {
      this.dead = true;
      this.socket.destroy();
    }
    this.idleSince = performance.now();
    w.resolve({ status, head, body });
    if (!this.dead) this.onFree(this);
  }
}

export class LoadClient {
  private readonly idle: Connection[] = [];
  private readonly queue: { request: Buffer; w: Waiter }[] = [];
  private open = 0;
  private readonly all = new Set<Connection>();
  private readonly hostHeader: string;

  /** `staleMs`: a connection idle longer is closed rather than used (Node's default keep-alive timeout is 5 s). */
  constructor(
    private readonly port: number,
    private readonly tls: ConnectionOptions,
    private readonly maxConnections: number,
    private readonly staleMs = 4000,
  ) {
    this.hostHeader = `${tls.servername ?? '127.0.0.1'}:${port}`;
  }

  /** Sends one request; resolves with the reply whatever its status. */
  async request(method: string, path: string, body = '', headers: Record<string, string> = {}): Promise<Reply> {
    let head = `${method} ${path} HTTP/1.1\r\n${'host' in headers ? '' : `host: ${this.hostHeader}\r\n`}content-length: ${Buffer.byteLength(body)}\r\n`;
    for (const k in headers) head += `${k}: ${headers[k]}\r\n`;
    const request = Buffer.from(`${head}\r\n${body}`);
    try {
      return await this.send(request);
    } catch (e) {
      if ((e as { retry?: boolean }).retry) return this.send(request);
      throw e;
    }
  }

  private send(request: Buffer): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const w = { resolve, reject };
      // The connection idle longest: below saturation (a fixed rate) every connection keeps serving. The
      // most recent one left the others idle until a burst reached them, stale, and the burst's
      // requests waited for new TLS handshakes: a tail of the client's, not the server's.
      let c = this.idle.shift();
      // Leave alone a connection the server may be closing for idleness (Node's default keep-alive timeout,
      // which the reference servers keep, is 5 s).
      while (c && performance.now() - c.idleSince > this.staleMs) {
        c.socket.destroy();
        c = this.idle.shift();
      }
      if (c) return c.send(request, w);
      if (this.open < this.maxConnections) return void this.dial().then((conn) => conn.send(request, w), reject);
      this.queue.push({ request, w });
    });
  }

  /** A JSON POST that must succeed (2xx); the reply's body text. */
  async post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<string> {
    const r = await this.request('POST', path, typeof body === 'string' ? body : JSON.stringify(body), {
      'content-type': 'application/json',
      ...headers,
    });
    if (r.status < 200 || r.status >= 300) throw new Error(`${path}: ${r.status} ${r.body}`);
    return r.body;
  }

  private async dial(): Promise<Connection> {
    this.open++;
    const conn = new Connection(connect({ host: '127.0.0.1', port: this.port, ...this.tls }), (c) => this.free(c));
    this.all.add(conn);
    conn.socket.once('close', () => {
      this.open--;
      this.all.delete(conn);
      const i = this.idle.indexOf(conn);
      if (i >= 0) this.idle.splice(i, 1);
      const next = this.queue.shift();
      if (next) this.dial().then((c) => c.send(next.request, next.w), next.w.reject);
    });
    try {
      await conn.ready;
    } catch (e) {
      conn.socket.destroy();
      throw e;
    }
    return conn;
  }

  private free(c: Connection) {
    const next = this.queue.shift();
    if (next) c.send(next.request, next.w);
    else this.idle.push(c);
  }

  async close() {
    for (const c of this.all) c.socket.destroy();
    this.idle.length = 0;
  }
}
