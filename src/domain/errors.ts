/** Stable, machine-readable error codes; the HTTP layer maps each to one status in one place. */
export type ErrorCode =
  | "VALIDATION_FAILED"
  | "NOT_FOUND"
  | "CONFLICT"
  | "UNAUTHORIZED"
  | "FORBIDDEN"
  | "PAYLOAD_TOO_LARGE"
  | "MALFORMED_JSON";

/** Base class for every error the domain throws on purpose. Anything else is a bug or an outage. */
export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export interface FieldIssue {
  path: string;
  message: string;
}

/** Input failed validation; `issues` names every offending field. */
export class ValidationError extends DomainError {
  constructor(
    message: string,
    readonly issues: FieldIssue[] = [],
  ) {
    super("VALIDATION_FAILED", message, issues);
  }
}

/** The named entity does not exist. */
export class NotFoundError extends DomainError {
  constructor(
    readonly entity: string,
    readonly id: string,
  ) {
    super("NOT_FOUND", `${entity} ${id} not found`);
  }
}

/** A conditional write lost to a concurrent writer, or the entity is not in the state the operation needs. */
export class ConflictError extends DomainError {
  constructor(message: string, details?: unknown) {
    super("CONFLICT", message, details);
  }
}

/**
 * The caller is authenticated but may not do this. The message names the permission it lacks; the
 * refused request changed nothing.
 */
export class ForbiddenError extends DomainError {
  constructor(
    readonly permission: string,
    message: string,
  ) {
    super("FORBIDDEN", message);
  }
}

export function isDomainError(error: unknown): error is DomainError {
  return error instanceof DomainError;
}

/**
 * A backing store could not be reached or did not answer in time: connection refused or cut,
 * connect or statement timeout. It is not a {@link DomainError} on purpose: it is transient, so
 * workers retry it, and the REST API answers 503 with Retry-After. Anything else a store throws
 * stays a 500, logged as the bug it probably is.
 */
export class StoreUnavailableError extends Error {
  constructor(
    readonly store: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "StoreUnavailableError";
  }
}

export function isStoreUnavailable(error: unknown): error is StoreUnavailableError {
  return error instanceof StoreUnavailableError;
}
