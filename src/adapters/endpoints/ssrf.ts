import { promises as dns, type LookupAddress } from "node:dns";
import { isIP, type LookupFunction } from "node:net";
import { NonRetryableError } from "../../domain/bidding/retry.js";

/**
 * Server-side request forgery guard for agent HTTPS endpoints. An agent chooses its endpoint, so
 * without this a registration could point the dispatcher at the instance metadata service, a VPC
 * resource or the dispatcher's own loopback. Three layers:
 *
 * 1. the URL: `https:` only, no credentials, and an IP-literal host must be public;
 * 2. every address the host name resolves to must be public (one bad record refuses the endpoint:
 *    a host that mixes public and private records is not one to trust);
 * 3. the connection is made to exactly the addresses vetted in step 2, because the check runs inside
 *    the socket's own `lookup` ({@link createGuardedLookup}): there is no second resolution for a
 *    DNS-rebinding server to answer differently. TLS still verifies the certificate against the host
 *    name in the URL.
 */

/** A refused endpoint. Never worth retrying. Messages name the host and address, never path or query. */
export class UnsafeEndpointError extends NonRetryableError {
  override name = "UnsafeEndpointError";
}

export interface EndpointPolicy {
  /**
   * Local mode only: loopback hosts (127.0.0.0/8, ::1, `localhost`) are allowed, over `http:` too, so
   * tests and the local stack can use a plain Node HTTP server. Every other non-public range stays
   * refused.
   */
  allowLoopback?: boolean;
}

interface Range {
  base: bigint;
  bits: number;
  label: string;
}

function parseIpv4(address: string): bigint {
  return address.split(".").reduce((value, octet) => (value << 8n) | BigInt(Number(octet)), 0n);
}

/** 128-bit value of an IPv6 address (zone id dropped; a dotted IPv4 tail is allowed). */
function parseIpv6(address: string): bigint {
  let text = address.split("%")[0] ?? "";
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)?.[1];
  if (tail) {
    const v4 = parseIpv4(tail);
    text = `${text.slice(0, -tail.length)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head = "", rest] = text.split("::");
  const left = head ? head.split(":") : [];
  const right = rest === undefined ? [] : rest ? rest.split(":") : [];
  const groups =
    rest === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill("0"), ...right];
  return groups.reduce((value, group) => (value << 16n) | BigInt(Number.parseInt(group || "0", 16)), 0n);
}

function v4(cidr: string, label: string): Range {
  const [base = "", bits = "32"] = cidr.split("/");
  return { base: parseIpv4(base), bits: Number(bits), label };
}

function v6(cidr: string, label: string): Range {
  const [base = "", bits = "128"] = cidr.split("/");
  return { base: parseIpv6(base), bits: Number(bits), label };
}

/** IPv4 ranges that are not the public internet (RFC 6890 special-purpose registry, abridged). */
const IPV4_BLOCKED: Range[] = [
  v4("0.0.0.0/8", "unspecified"),
  v4("10.0.0.0/8", "private"),
  v4("100.64.0.0/10", "shared address space"),
  v4("127.0.0.0/8", "loopback"),
  v4("169.254.0.0/16", "link-local"),
  v4("172.16.0.0/12", "private"),
  v4("192.0.0.0/24", "IETF protocol assignments"),
  v4("192.0.2.0/24", "documentation"),
  v4("192.88.99.0/24", "6to4 relay"),
  v4("192.168.0.0/16", "private"),
  v4("198.18.0.0/15", "benchmarking"),
  v4("198.51.100.0/24", "documentation"),
  v4("203.0.113.0/24", "documentation"),
  v4("224.0.0.0/4", "multicast"),
  v4("240.0.0.0/4", "reserved"),
];

const IPV6_BLOCKED: Range[] = [
  v6("::/128", "unspecified"),
  v6("::1/128", "loopback"),
  v6("64:ff9b:1::/48", "NAT64 local use"),
  v6("100::/64", "discard"),
  v6("2001::/32", "Teredo"),
  v6("2001:db8::/32", "documentation"),
  v6("3fff::/20", "documentation"),
  v6("fc00::/7", "unique-local"),
  v6("fe80::/10", "link-local"),
  v6("fec0::/10", "site-local"),
  v6("ff00::/8", "multicast"),
];

/** IPv6 forms that carry an IPv4 address, which is what is judged (`shift`: where it sits). */
const IPV6_EMBEDDING_IPV4: Array<Range & { shift: bigint }> = [
  { ...v6("::ffff:0:0/96", "IPv4-mapped"), shift: 0n },
  { ...v6("::ffff:0:0:0/96", "IPv4-translated"), shift: 0n },
  { ...v6("64:ff9b::/96", "NAT64"), shift: 0n },
  { ...v6("::/96", "IPv4-compatible"), shift: 0n },
  { ...v6("2002::/16", "6to4"), shift: 80n },
];

function inRange(value: bigint, width: number, range: Range): boolean {
  const shift = BigInt(width - range.bits);
  return value >> shift === range.base >> shift;
}

function ipv4Range(value: bigint): string | undefined {
  return IPV4_BLOCKED.find((range) => inRange(value, 32, range))?.label;
}

/**
 * The label of the non-public range `address` falls in (`"loopback"`, `"private"`, `"link-local"`,
 * `"unique-local"`, ... with `" (IPv4-mapped)"` and the like for IPv6 forms of IPv4 addresses), or
 * `undefined` for a public address. Anything that is not an IP address is `"not an IP address"`.
 */
export function blockedRange(address: string): string | undefined {
  const family = isIP(address);
  if (family === 4) return ipv4Range(parseIpv4(address));
  if (family !== 6) return "not an IP address";
  const value = parseIpv6(address);
  const direct = IPV6_BLOCKED.find((range) => inRange(value, 128, range));
  if (direct) return direct.label;
  for (const form of IPV6_EMBEDDING_IPV4) {
    if (!inRange(value, 128, form)) continue;
    const label = ipv4Range((value >> form.shift) & 0xffffffffn);
    return label ? `${label} (${form.label})` : undefined;
  }
  return undefined;
}

function isLoopbackRange(label: string | undefined): boolean {
  return label === "loopback" || label?.startsWith("loopback (") === true;
}

/** The bare host of a URL: IPv6 brackets and a trailing dot removed, lower case. */
function bareHost(url: URL): string {
  return url.hostname
    .replace(/^\[|\]$/g, "")
    .replace(/\.$/, "")
    .toLowerCase();
}

function isLocalhostName(host: string): boolean {
  return host === "localhost" || host.endsWith(".localhost");
}

/** Why `address` may not be connected to under `policy`, or `undefined` when it may. */
function refusal(address: string, policy: EndpointPolicy & { loopbackOnly?: boolean }): string | undefined {
  const label = blockedRange(address);
  if (policy.loopbackOnly) {
    return isLoopbackRange(label) ? undefined : `${address} (plain http is for loopback only)`;
  }
  if (label === undefined || (policy.allowLoopback && isLoopbackRange(label))) return undefined;
  return `${address} (${label})`;
}

/** Throws {@link UnsafeEndpointError} unless `address` may be connected to under `policy`. */
export function checkAddress(
  address: string,
  policy: EndpointPolicy & { loopbackOnly?: boolean } = {},
): void {
  const reason = refusal(address, policy);
  if (reason) throw new UnsafeEndpointError(`endpoint address ${reason} is not allowed`);
}

/**
 * Parses and checks an agent endpoint URL: `https:` (or, with `allowLoopback`, `http:`), no
 * credentials, and an IP-literal host that passes {@link checkAddress}. A host name is checked
 * later, on every connection, by {@link createGuardedLookup}.
 */
export function checkEndpointUrl(value: string, policy: EndpointPolicy = {}): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UnsafeEndpointError("endpoint is not a URL");
  }
  const allowedProtocols = policy.allowLoopback ? ["https:", "http:"] : ["https:"];
  if (!allowedProtocols.includes(url.protocol)) {
    throw new UnsafeEndpointError(`endpoint scheme ${url.protocol} is not allowed (https only)`);
  }
  if (url.username || url.password) throw new UnsafeEndpointError("endpoint URL must not carry credentials");
  const host = bareHost(url);
  const loopbackOnly = url.protocol === "http:";
  if (isIP(host)) {
    checkAddress(host, { ...policy, loopbackOnly });
  } else if (isLocalhostName(host) && !policy.allowLoopback) {
    throw new UnsafeEndpointError(`endpoint host ${host} is loopback`);
  }
  return url;
}

/** Resolves every address of a host name, as `dns.lookup` with `all: true` does. */
export type Resolver = (hostname: string) => Promise<LookupAddress[]>;

const systemResolver: Resolver = (hostname) => dns.lookup(hostname, { all: true, verbatim: true });

/**
 * A `lookup` for `http(s).request` / `net.connect` that resolves the host, refuses it with
 * {@link UnsafeEndpointError} if any address is not allowed, and hands the socket only the vetted
 * addresses, so the address checked is the address connected to. (Node skips `lookup` for
 * IP-literal hosts; {@link checkEndpointUrl} checks those.) `loopbackOnly` is for plain `http:` in
 * local mode.
 */
export function createGuardedLookup(
  policy: EndpointPolicy & { loopbackOnly?: boolean; resolve?: Resolver } = {},
): LookupFunction {
  const resolve = policy.resolve ?? systemResolver;
  return (hostname, options, callback) => {
    resolve(hostname)
      .then((resolved) => {
        if (resolved.length === 0) throw new UnsafeEndpointError(`${hostname} has no addresses`);
        for (const { address } of resolved) {
          const reason = refusal(address, policy);
          if (reason) throw new UnsafeEndpointError(`endpoint host ${hostname} resolves to ${reason}`);
        }
        const wanted = options.family === 4 || options.family === 6 ? options.family : undefined;
        const usable = wanted ? resolved.filter((a) => a.family === wanted) : resolved;
        const [first] = usable;
        if (!first) throw new UnsafeEndpointError(`${hostname} has no IPv${wanted} address`);
        if (options.all) callback(null, usable);
        else callback(null, first.address, first.family);
      })
      .catch((error: NodeJS.ErrnoException) => callback(error, "", 0));
  };
}
