/** GitHub delivery headers' shapes, free of any schema library (the receiver's edge checks and config use them). */

/**
 * `X-GitHub-Event`: GitHub's event names are lowercase words joined by underscores. The receiver
 * refuses any other header value and the worker refuses any other `event`, from this one pattern.
 */
export const GITHUB_EVENT_PATTERN = /^[a-z_]{1,64}$/;

/**
 * `X-GitHub-Delivery`: a GUID today. Letters, digits and dashes keep it safe as a key part
 * (`DELIVERY#<id>`) and in logs without pinning the exact GUID layout. Shared by the receiver (header
 * check) and the worker (message check).
 */
export const GITHUB_DELIVERY_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9-]{0,127}$/;
