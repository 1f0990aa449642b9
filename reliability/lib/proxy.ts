import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy between the gateway and PostgreSQL. `cut()` drops every connection and refuses new
 * ones (what the gateway sees when the database server stops); `restore()` listens again on the same
 * port. The machine's PostgreSQL itself is never touched.
 */
export class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(
    readonly targetHost: string,
    readonly targetPort: number,
  ) {}

  async start(port = 0) {
    this.server = createServer((client) => {
      const upstream = connect(this.targetPort, this.targetHost);
      this.sockets.add(client);
      this.sockets.add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('error', drop);
      upstream.on('error', drop);
      client.on('close', drop);
      upstream.on('close', drop);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((res, rej) => {
      this.server!.once('error', rej);
      this.server!.listen(port || this.port, '127.0.0.1', () => res());
    });
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  async cut() {
    const s = this.server;
    this.server = undefined;
    for (const sock of this.sockets) sock.destroy();
    this.sockets.clear();
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }

  async restore() {
    await this.start(this.port);
  }

  /** postgres://... pointed at the proxy instead of the server. */
  rewrite(url: string) {
    const u = new URL(url);
    u.hostname = '127.0.0.1';
    u.port = String(this.port);
    return u.toString();
  }

  async close() {
    await this.cut();
  }
}
