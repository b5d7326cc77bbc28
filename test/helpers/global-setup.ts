import type { TestProject } from "vitest/node";
import { startDynamoDbLocal } from "../../src/local/dynamodb-local.js";

declare module "vitest" {
  export interface ProvidedContext {
    dynamoEndpoint: string;
  }
}

/**
 * One in-memory DynamoDB Local (`-sharedDb`) for the whole integration run; each test file creates
 * its own table in it. The JVM is stopped at teardown, and its guardian kills it if this process dies
 * before teardown can run (Ctrl-C, crash, SIGKILL).
 */
export default async function setup(project: TestProject) {
  const dynamo = await startDynamoDbLocal();
  project.provide("dynamoEndpoint", dynamo.endpoint);
  return async () => {
    await dynamo.stop();
  };
}
