/** ElectroDB model identity written to `__edb_e__`/`__edb_v__` on every item. */
export const SERVICE_NAME = "agentforge";
export const ENTITY_VERSION = "1";
