import { randomUUID } from "node:crypto";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Context } from "aws-lambda";
import type { FunctionSpec } from "../topology.js";

/** The repository root: function entries in the topology are relative to it. */
const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Account id the local stack puts in ARNs (DynamoDB Local uses the same). */
export const LOCAL_ACCOUNT_ID = "000000000000";

/** The invocation ran past the function's timeout (Lambda: "Task timed out after N seconds"). */
export class FunctionTimeoutError extends Error {
  override name = "FunctionTimeoutError";
}

/** A deployed function, loaded in this process: `invoke` is what a Lambda invocation would do. */
export interface LocalFunction {
  spec: FunctionSpec;
  /** Deployed name, as the CDK app would have it. */
  name: string;
  invoke(event: unknown): Promise<unknown>;
}

type Handler = (event: unknown, context: Context) => Promise<unknown>;

function contextFor(spec: FunctionSpec, name: string, region: string, deadline: number): Context {
  const requestId = randomUUID();
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: name,
    functionVersion: "$LATEST",
    invokedFunctionArn: `arn:aws:lambda:${region}:${LOCAL_ACCOUNT_ID}:function:${name}`,
    memoryLimitInMB: String(spec.memoryMb),
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${name}`,
    logStreamName: `local/${requestId}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

/**
 * Imports a function's entry module (the same file CDK bundles) and wraps its `handler` export as
 * Lambda runs it: a fresh context per invocation and the function's timeout. An invocation that
 * times out rejects with {@link FunctionTimeoutError}; like Lambda, the caller's retry policy (the
 * queue's visibility timeout, the stream's retries) decides what happens next. Unlike Lambda the
 * timed-out call cannot be frozen, so it may still finish in the background.
 */
export async function loadFunction(
  spec: FunctionSpec,
  { region, namePrefix = "agentforge" }: { region: string; namePrefix?: string },
): Promise<LocalFunction> {
  const url = pathToFileURL(`${REPO_ROOT}${spec.entry}`).href;
  const module = (await import(url)) as { handler?: unknown };
  if (typeof module.handler !== "function") {
    throw new Error(`${spec.entry} does not export a handler function`);
  }
  const handler = module.handler as Handler;
  const name = `${namePrefix}-${spec.id}`;
  const timeoutMs = spec.timeoutSeconds * 1000;
  return {
    spec,
    name,
    async invoke(event) {
      const deadline = Date.now() + timeoutMs;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(new FunctionTimeoutError(`${name}: task timed out after ${spec.timeoutSeconds} seconds`)),
          timeoutMs,
        );
      });
      try {
        return await Promise.race([handler(event, contextFor(spec, name, region, deadline)), timedOut]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
