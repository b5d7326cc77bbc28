/**
 * The governance store on PostgreSQL. It lives in governance/, one module per aggregate; this module
 * keeps the names its importers use.
 */
export { AUDIT_COLUMNS, auditRowParams } from "./governance/audit.js";
export {
  AGENT_SCOPE_SETTING,
  createPostgresGovernanceStore,
  type PostgresGovernanceStoreOptions,
} from "./governance/store.js";
