import { TABLE } from "../table-definition.js";
import { ENTITY_VERSION, SERVICE_NAME } from "./model.js";

/**
 * `PR#<repository id>#<number>` / `PR_LINK`: the issues a pull request closes (learnt from its body)
 * and the evidence GitHub reported about it (merge, reviews, checks). Check payloads name only pull
 * requests, and a check can finish before the pull request's own delivery links it to an issue, so
 * evidence waits here and is copied to every task the pull request is, or later becomes, linked to.
 * Keyed by repository id, which survives renames and transfers. Expires with TTL once quiet.
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
    repo_id: { type: "number", required: true, readOnly: true },
    number: { type: "number", required: true, readOnly: true },
    task_ids: { type: "list", items: { type: "string" }, required: true },
    evidence: { type: "any", required: true },
    version: { type: "number", required: true },
    [TABLE.ttlAttribute]: { type: "number", required: true },
  },
  indexes: {
    primary: {
      pk: {
        field: "PK",
        composite: ["repo_id", "number"],
        template: "PR#${repo_id}#${number}",
        casing: "none",
      },
      sk: { field: "SK", composite: [], template: "PR_LINK", casing: "none" },
    },
  },
} as const;
