import { App } from "aws-cdk-lib";
import { DataStack } from "./data-stack.js";
import { addNagChecks } from "./nag.js";
import { ServiceStack } from "./service-stack.js";
import { readSettings } from "./settings.js";

const CROSS_STACK_REFERENCES = "@aws-cdk/core:defaultCrossStackReferences";

/**
 * The AgentForge CDK app: the stateful stack (table, queues, generated secrets) and the stateless one
 * (functions, HTTP API, schedules, alarms, dashboard), both built from `src/topology.ts`. The
 * environment stays unresolved unless the CLI provides one, and nothing is looked up, so
 * `cdk synth` works offline without credentials. cdk-nag's AWS Solutions checks run on every synth.
 */
export function createApp(app: App = new App()): { app: App; data: DataStack; service: ServiceStack } {
  // Strong (Fn::ImportValue) references: the stateful stack cannot be deleted while functions use it.
  if (app.node.tryGetContext(CROSS_STACK_REFERENCES) === undefined) {
    app.node.setContext(CROSS_STACK_REFERENCES, "strong");
  }
  const env = { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION };
  const settings = readSettings(app.node);
  const data = new DataStack(app, "AgentForge-Data", {
    env,
    settings,
    description: "AgentForge marketplace: stateful resources (DynamoDB single table, queues, secrets)",
  });
  const service = new ServiceStack(app, "AgentForge-Service", {
    env,
    settings,
    data,
    description: "AgentForge marketplace: functions, HTTP API, schedules, alarms and dashboard",
  });
  addNagChecks(app);
  return { app, data, service };
}
