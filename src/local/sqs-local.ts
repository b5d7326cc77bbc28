import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createSqsServer } from "local-aws-sqs";

export interface SqsLocalOptions {
  /** TCP port; 0 (default) lets the OS pick a free one. */
  port?: number;
  /** Interface to listen on; loopback by default so nothing outside this machine can reach it. */
  hostname?: string;
}

export interface SqsLocal {
  /** e.g. `http://127.0.0.1:41234`; queue URLs returned by the emulator start with it. */
  endpoint: string;
  port: number;
  stop(): Promise<void>;
}

/**
 * Starts the `local-aws-sqs` emulator inside this process (plain Node HTTP, no child process), so
 * it ends with the process whatever happens and nothing can be left running.
 */
export async function startSqsLocal(options: SqsLocalOptions = {}): Promise<SqsLocal> {
  const hostname = options.hostname ?? "127.0.0.1";
  const server: Server = await createSqsServer({
    port: options.port ?? 0,
    hostname,
    // Test files create and delete uniquely named queues; AWS's 60 s name quarantine only gets in the way.
    emulateQueueCreationLifecycle: false,
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://${hostname}:${port}`,
    port,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        if (!server.listening) return resolve();
        server.close((error) => (error ? reject(error) : resolve()));
        // Keep-alive connections from SDK clients would otherwise hold `close` open.
        server.closeAllConnections();
      }),
  };
}
