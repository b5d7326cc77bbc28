import { ConflictError, ValidationError } from "../errors.js";
import {
  ESCROW_RESOLVERS,
  ESCROW_STATUSES,
  type Escrow,
  type EscrowResolver,
  type EscrowStatus,
} from "./governance.types.js";

/**
 * The escrow state machine. `released` and `refunded` are final.
 *
 * | from     | to       | who may do it                                               |
 * |----------|----------|-------------------------------------------------------------|
 * | pending  | released | api (the task's ledger outcome is SUCCESS), judge           |
 * | pending  | disputed | api (outcome FAILURE or HUMAN_INTERVENTION), judge          |
 * | pending  | refunded | timeout (the sweeper, past the escrow timeout), judge       |
 * | disputed | released | judge                                                       |
 * | disputed | refunded | judge                                                       |
 *
 * The database refuses the same status moves with a trigger, so a bug or a hand-written UPDATE
 * cannot skip the rules; who may make a move is checked here.
 */
export const ESCROW_TRANSITIONS: Readonly<
  Record<EscrowStatus, Readonly<Partial<Record<EscrowStatus, readonly EscrowResolver[]>>>>
> = Object.freeze({
  pending: Object.freeze({
    released: ["api", "judge"] as const,
    disputed: ["api", "judge"] as const,
    refunded: ["timeout", "judge"] as const,
  }),
  disputed: Object.freeze({ released: ["judge"] as const, refunded: ["judge"] as const }),
  released: Object.freeze({}),
  refunded: Object.freeze({}),
});

export const FINAL_ESCROW_STATUSES: readonly EscrowStatus[] = ["released", "refunded"];

export function isFinalEscrowStatus(status: EscrowStatus): boolean {
  return FINAL_ESCROW_STATUSES.includes(status);
}

/** Throws ConflictError (code CONFLICT, details.reason ILLEGAL_TRANSITION) unless `by` may move `from` → `to`. */
export function assertEscrowTransition(from: EscrowStatus, to: EscrowStatus, by: EscrowResolver): void {
  const allowed = ESCROW_TRANSITIONS[from][to];
  if (!allowed) {
    throw new ConflictError(`Escrow cannot move from ${from} to ${to}`, {
      reason: "ILLEGAL_TRANSITION",
      from,
      to,
    });
  }
  if (!allowed.includes(by)) {
    throw new ConflictError(`Escrow move ${from} → ${to} is for ${allowed.join(" or ")}, not ${by}`, {
      reason: "ILLEGAL_TRANSITION",
      from,
      to,
      by,
    });
  }
}

/** The columns an escrow move writes. */
export interface EscrowMove {
  status: EscrowStatus;
  updated_at: string;
  settled_at: string | null;
  resolved_by: EscrowResolver | null;
}

/**
 * What moving `current` to `to` by `by` at `at` writes: the new status, and for a final state
 * `settled_at` = `at` and `resolved_by` = `by` (a move to disputed keeps them). An unknown status or
 * resolver is a ValidationError; a move the table above does not allow is a ConflictError.
 */
export function planEscrowMove(
  current: Pick<Escrow, "status" | "settled_at" | "resolved_by">,
  to: EscrowStatus,
  by: EscrowResolver,
  at: string,
): EscrowMove {
  if (!ESCROW_STATUSES.includes(to)) {
    throw new ValidationError("Invalid escrow status", [
      { path: "to", message: `is not one of ${ESCROW_STATUSES.join(", ")}` },
    ]);
  }
  if (!ESCROW_RESOLVERS.includes(by)) {
    throw new ValidationError("Invalid escrow resolver", [
      { path: "resolvedBy", message: `is not one of ${ESCROW_RESOLVERS.join(", ")}` },
    ]);
  }
  assertEscrowTransition(current.status, to, by);
  const final = isFinalEscrowStatus(to);
  return {
    status: to,
    updated_at: at,
    settled_at: final ? at : current.settled_at,
    resolved_by: final ? by : current.resolved_by,
  };
}
