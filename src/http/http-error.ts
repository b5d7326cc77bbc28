import type { APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { errorResponse } from "./responses.js";

/**
 * A request refused at the HTTP edge (method, size, signature, headers, encoding), with the status and
 * code it is answered with. These are transport concerns, so they live here and not among the
 * domain's error codes.
 */
export class HttpError extends Error {
  override name = "HttpError";

  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** The `{ "error": { "code", "message" } }` response for an {@link HttpError}, plus its extra headers. */
export function httpErrorResponse(error: HttpError): APIGatewayProxyStructuredResultV2 {
  const response = errorResponse(error.statusCode, error.code, error.message);
  return { ...response, headers: { ...response.headers, ...error.headers } };
}
