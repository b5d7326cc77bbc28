import { createServer, type Socket } from "node:net";

/**
 * A TCP server on loopback that accepts every connection and never sends a byte: a database whose
 * packets are dropped rather than refused (a partition, a security group gone wrong). A client
 * pointed at it waits until its own timeout fires.
 */
export interface BlackHole {
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Most connections held open at once so far. */
  readonly peakOpen: number;
  close(): Promise<void>;
}

/** `backlog`: pending connections the listener queues (thousands for the delivery bench's dead endpoints). */
export async function startBlackHole(host = "127.0.0.1", backlog = 511): Promise<BlackHole> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  let peakOpen = 0;
  const server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    peakOpen = Math.max(peakOpen, sockets.size);
    socket.on("error", () => {});
    socket.once("close", () => sockets.delete(socket));
    // Read and discard, so the client's writes never block: it sees an open, silent connection.
    socket.resume();
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port: 0, host, backlog }, () => {
      const address = server.address();
      if (address === null || typeof address === "string") reject(new Error("not a TCP listener"));
      else resolve(address.port);
    });
  });
  return {
    port,
    get accepted() {
      return accepted;
    },
    get peakOpen() {
      return peakOpen;
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
