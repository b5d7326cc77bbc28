import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { createApp } from "../../infra/marketplace-app.js";

/** CDK context that skips asset bundling: unit tests never run esbuild. */
export const NO_BUNDLING = { "aws:cdk:bundling-stacks": [] } as const;

export interface Synthesized {
  app: App;
  built: ReturnType<typeof createApp>;
  data: Template;
  service: Template;
}

const cache = new Map<string, Synthesized>();

/**
 * The whole app (both stacks, cdk-nag registered) synthesised without bundling, once per context
 * per test file. Called inside tests rather than in hooks, so synthesis counts against the test's
 * 30 s timeout and not the 10 s hook timeout.
 */
export function synthApp(context: Record<string, unknown> = {}): Synthesized {
  const key = JSON.stringify(context);
  let synthesized = cache.get(key);
  if (!synthesized) {
    const app = new App({ context: { ...NO_BUNDLING, ...context } });
    const built = createApp(app);
    synthesized = {
      app,
      built,
      data: Template.fromStack(built.data),
      service: Template.fromStack(built.service),
    };
    cache.set(key, synthesized);
  }
  return synthesized;
}

/** A template's resources of one type, by logical id. */
export function resourcesOf(
  template: Template,
  type: string,
): Record<string, { Properties: Record<string, unknown> }> {
  return template.findResources(type) as Record<string, { Properties: Record<string, unknown> }>;
}
