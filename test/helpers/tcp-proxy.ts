import { connect, createServer, type Server, type Socket } from "node:net";

/**
 * A TCP proxy on loopback in front of one server, for outage tests: `close()` makes the server
 * unreachable the way a network partition or a dead host does (new connections are refused, open
 * ones are cut), `reopen()` brings it back on the same port.
 */
export interface TcpProxy {
  readonly host: string;
  /** Fixed for the proxy's life, so clients keep their connection string across an outage. */
  readonly port: number;
  /** Connections accepted since the proxy started. */
  readonly accepted: number;
  /** Whether the proxy is listening. */
  readonly open: boolean;
  /** `url` (a `scheme://user@host:port/...` string) with its host and port replaced by the proxy's. */
  rewrite(url: string): string;
  /** Stops listening and destroys every open socket (both sides); resolves once the listener is closed. */
  close(): Promise<void>;
  /** Listens again on the same port. */
  reopen(): Promise<void>;
  /** Closes for good. Safe to call twice. */
  dispose(): Promise<void>;
}

export interface TcpProxyOptions {
  /** The server behind the proxy. */
  target: { host: string; port: number };
  /** Loopback address to listen on (default 127.0.0.1). */
  host?: string;
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      const address = server.address();
      if (address === null || typeof address === "string") {
        reject(new Error("The proxy is not listening on a TCP port"));
        return;
      }
      resolve(address.port);
    });
  });
}

/** Starts a proxy on a random free port of `host` that pipes every connection to `target`. */
export async function startTcpProxy({ target, host = "127.0.0.1" }: TcpProxyOptions): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  let listening = false;
  let disposed = false;

  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  };

  const server = createServer((client) => {
    accepted++;
    const upstream = connect(target.port, target.host);
    track(client);
    track(upstream);
    // Either side failing or closing ends the pair, as a cut connection would.
    const cut = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", cut).on("close", cut);
    upstream.on("error", cut).on("close", cut);
    client.pipe(upstream);
    upstream.pipe(client);
  });

  const port = await listen(server, 0, host);
  listening = true;

  const close = async () => {
    if (!listening) return;
    listening = false;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // `server.close` only stops accepting; it waits for open connections, so cut them now.
    for (const socket of sockets) socket.destroy();
    await closed;
  };

  return {
    host,
    port,
    get accepted() {
      return accepted;
    },
    get open() {
      return listening;
    },
    rewrite(url) {
      const parsed = new URL(url);
      parsed.hostname = host;
      parsed.port = String(port);
      return parsed.toString();
    },
    close,
    async reopen() {
      if (disposed) throw new Error("The proxy was disposed");
      if (listening) return;
      await listen(server, port, host);
      listening = true;
    },
    async dispose() {
      disposed = true;
      await close();
    },
  };
}
