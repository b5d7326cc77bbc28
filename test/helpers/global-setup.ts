import type { TestProject } from "vitest/node";
import { startDynamoDbLocal } from "../../src/local/dynamodb-local.js";
import { startSqsLocal } from "../../src/local/sqs-local.js";

declare module "vitest" {
  export interface ProvidedContext {
    dynamoEndpoint: string;
    sqsEndpoint: string;
  }
}

/**
 * One in-memory DynamoDB Local (`-sharedDb`) and one SQS emulator for the whole integration run;
 * each test file creates its own table and queues in them. The JVM is stopped at teardown, and its
 * guardian kills it if this process dies before teardown can run (Ctrl-C, crash, SIGKILL). The SQS
 * emulator is an HTTP server inside this process, so it cannot outlive it.
 */
export default async function setup(project: TestProject) {
  const dynamo = await startDynamoDbLocal();
  const sqs = await startSqsLocal().catch(async (error: unknown) => {
    await dynamo.stop();
    throw error;
  });
  project.provide("dynamoEndpoint", dynamo.endpoint);
  project.provide("sqsEndpoint", sqs.endpoint);
  return async () => {
    await Promise.all([dynamo.stop(), sqs.stop()]);
  };
}
