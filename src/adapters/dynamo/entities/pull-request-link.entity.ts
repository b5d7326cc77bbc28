import { TABLE } from "../table-definition.js";
import { ENTITY_VERSION, SERVICE_NAME } from "./model.js";

/**
 * `PR#<owner/repo>#<number>` / `PR_LINK`: the issues a pull request closes, learnt from its body.
 * Check suite and check run payloads name only pull requests, so this is how their conclusions reach
 * a task. Expires with TTL after the pull request goes quiet.
 */
export const pullRequestLinkSchema = {
  model: { entity: "pull_request_link", version: ENTITY_VERSION, service: SERVICE_NAME },
  attributes: {
    type: {
      type: ["PULL_REQUEST_LINK"] as const,
      required: true,
      default: "PULL_REQUEST_LINK",
      readOnly: true,
    },
    repo: { type: "string", required: true, readOnly: true },
    number: { type: "number", required: true, readOnly: true },
    task_ids: { type: "set", items: "string", required: true },
    [TABLE.ttlAttribute]: { type: "number", required: true },
  },
  indexes: {
    primary: {
      pk: { field: "PK", composite: ["repo", "number"], template: "PR#${repo}#${number}", casing: "none" },
      sk: { field: "SK", composite: [], template: "PR_LINK", casing: "none" },
    },
  },
} as const;
