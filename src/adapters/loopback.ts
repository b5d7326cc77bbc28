import { isIPv4 } from "node:net";

/** Apart from the SDK clients, so the SQS client's module does not pull in DynamoDB's. */

const LOOPBACK_HOSTS = new Set(["localhost", "[::1]", "::1"]);

/**
 * True when `endpoint` is an http(s) URL on a loopback address: `localhost`, `::1` or an IPv4
 * address in 127.0.0.0/8. A host name that merely starts with `127.` (`127.attacker.example`) is not.
 */
export function isLoopbackEndpoint(endpoint: string): boolean {
  try {
    const url = new URL(endpoint);
    return (
      (url.protocol === "http:" || url.protocol === "https:") &&
      (LOOPBACK_HOSTS.has(url.hostname) || (isIPv4(url.hostname) && url.hostname.startsWith("127.")))
    );
  } catch {
    return false;
  }
}
