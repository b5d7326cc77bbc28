import type { APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { type ErrorCode, isDomainError } from "../domain/errors.js";

const STATUS_BY_CODE: Record<ErrorCode, number> = {
  VALIDATION_FAILED: 400,
  MALFORMED_JSON: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
};

const JSON_HEADERS = { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" };

export function jsonResponse(statusCode: number, body: unknown): APIGatewayProxyStructuredResultV2 {
  return { statusCode, headers: JSON_HEADERS, body: JSON.stringify(body) };
}

/** The one error body shape: `{ "error": { "code", "message" } }`, plus field issues for validation. */
export function errorResponse(
  statusCode: number,
  code: string,
  message: string,
  details?: unknown,
): APIGatewayProxyStructuredResultV2 {
  return jsonResponse(statusCode, { error: { code, message, ...(details ? { details } : {}) } });
}

/**
 * Maps any thrown value to a response. Domain errors keep their code and message; anything else is a
 * 500 with a generic message (the caller logs the real error), never a stack trace.
 */
export function responseForError(error: unknown): APIGatewayProxyStructuredResultV2 {
  if (isDomainError(error)) {
    return errorResponse(
      STATUS_BY_CODE[error.code],
      error.code,
      error.message,
      error.code === "VALIDATION_FAILED" ? error.details : undefined,
    );
  }
  return errorResponse(500, "INTERNAL", "Internal error; it has been logged");
}
