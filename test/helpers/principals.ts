import type { Principal } from "../../src/domain/identity/principal.js";

/** The operator the tests act as when they call services directly (`operator:test-ops`). */
export const TEST_OPERATOR: Principal = { kind: "operator", name: "test-ops" };
