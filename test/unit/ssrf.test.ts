import type { LookupAddress } from "node:dns";
import { describe, expect, it } from "vitest";
import {
  blockedRange,
  checkAddress,
  checkEndpointUrl,
  createGuardedLookup,
  UnsafeEndpointError,
} from "../../src/adapters/endpoints/ssrf.js";
import { NonRetryableError } from "../../src/domain/bidding/retry.js";

describe("blockedRange: which addresses are not the public internet", () => {
  it.each([
    ["10.0.0.1", "private"],
    ["10.255.255.255", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["192.168.1.10", "private"],
    ["100.64.0.1", "shared address space"],
    ["100.127.255.254", "shared address space"],
    ["127.0.0.1", "loopback"],
    ["127.8.9.10", "loopback"],
    ["169.254.169.254", "link-local"],
    ["169.254.0.1", "link-local"],
    ["0.0.0.0", "unspecified"],
    ["224.0.0.251", "multicast"],
    ["239.255.255.250", "multicast"],
    ["255.255.255.255", "reserved"],
    ["192.0.0.192", "IETF protocol assignments"],
    ["::1", "loopback"],
    ["::", "unspecified"],
    ["fe80::1", "link-local"],
    ["febf:ffff::1", "link-local"],
    ["fe80::1%eth0", "link-local"],
    ["fc00::1", "unique-local"],
    ["fd00:ec2::254", "unique-local"],
    ["ff02::1", "multicast"],
    ["2001:db8::1", "documentation"],
  ])("%s is %s", (address, label) => {
    expect(blockedRange(address)).toBe(label);
  });

  it.each([
    ["::ffff:127.0.0.1", "loopback (IPv4-mapped)"],
    ["::ffff:7f00:1", "loopback (IPv4-mapped)"],
    ["::ffff:169.254.169.254", "link-local (IPv4-mapped)"],
    ["::ffff:a9fe:a9fe", "link-local (IPv4-mapped)"],
    ["::ffff:10.1.2.3", "private (IPv4-mapped)"],
    ["0:0:0:0:0:ffff:c0a8:0101", "private (IPv4-mapped)"],
    ["::ffff:0:a00:1", "private (IPv4-translated)"],
    ["::127.0.0.1", "loopback (IPv4-compatible)"],
    ["64:ff9b::a9fe:a9fe", "link-local (NAT64)"],
    ["2002:7f00:1::", "loopback (6to4)"],
    ["2002:c0a8:101::1", "private (6to4)"],
  ])("IPv6 form %s of a blocked IPv4 address is %s", (address, label) => {
    expect(blockedRange(address)).toBe(label);
  });

  it.each([
    "8.8.8.8",
    "1.1.1.1",
    "172.15.255.255",
    "172.32.0.0",
    "100.63.255.255",
    "100.128.0.0",
    "169.253.255.255",
    "192.169.0.1",
    "2606:4700:4700::1111",
    "2a00:1450:4001:82b::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",
  ])("%s is public", (address) => {
    expect(blockedRange(address)).toBeUndefined();
  });

  it("anything that is not an IP address is refused", () => {
    expect(blockedRange("example.com")).toBe("not an IP address");
    expect(blockedRange("")).toBe("not an IP address");
  });
});

describe("checkAddress", () => {
  it("refuses a blocked address with a non-retryable error naming the range", () => {
    expect(() => checkAddress("169.254.169.254")).toThrow(UnsafeEndpointError);
    expect(() => checkAddress("169.254.169.254")).toThrow(/169\.254\.169\.254 \(link-local\)/);
    expect(new UnsafeEndpointError("x")).toBeInstanceOf(NonRetryableError);
  });

  it("allowLoopback opens loopback only, not the other private ranges", () => {
    expect(() => checkAddress("127.0.0.1", { allowLoopback: true })).not.toThrow();
    expect(() => checkAddress("::1", { allowLoopback: true })).not.toThrow();
    expect(() => checkAddress("::ffff:127.0.0.1", { allowLoopback: true })).not.toThrow();
    expect(() => checkAddress("10.0.0.1", { allowLoopback: true })).toThrow(UnsafeEndpointError);
    expect(() => checkAddress("169.254.169.254", { allowLoopback: true })).toThrow(UnsafeEndpointError);
  });

  it("loopbackOnly (plain http in local mode) refuses even public addresses", () => {
    expect(() => checkAddress("8.8.8.8", { allowLoopback: true, loopbackOnly: true })).toThrow(
      /plain http is for loopback only/,
    );
  });
});

describe("checkEndpointUrl", () => {
  it("accepts a public https URL and keeps it whole", () => {
    const url = checkEndpointUrl("https://agents.example.com:8443/bid?x=1");
    expect(url.href).toBe("https://agents.example.com:8443/bid?x=1");
  });

  it.each([
    ["http://agents.example.com/bid", /scheme http: is not allowed/],
    ["ftp://agents.example.com/bid", /scheme ftp: is not allowed/],
    ["https://user:pass@agents.example.com/bid", /credentials/],
    ["https://token@agents.example.com/bid", /credentials/],
    ["not a url", /not a URL/],
    ["https://127.0.0.1/bid", /127\.0\.0\.1 \(loopback\)/],
    ["https://[::1]/bid", /::1 \(loopback\)/],
    ["https://[::ffff:169.254.169.254]/latest/meta-data", /IPv4-mapped/],
    ["https://169.254.169.254/latest/meta-data", /link-local/],
    ["https://10.0.0.8/bid", /private/],
    ["https://2130706433/bid", /127\.0\.0\.1 \(loopback\)/],
    ["https://0x7f.1/bid", /127\.0\.0\.1 \(loopback\)/],
    ["https://0/bid", /0\.0\.0\.0 \(unspecified\)/],
    ["https://localhost/bid", /localhost is loopback/],
    ["https://agent.localhost./bid", /agent\.localhost is loopback/],
  ])("refuses %s", (value, message) => {
    expect(() => checkEndpointUrl(value)).toThrow(UnsafeEndpointError);
    expect(() => checkEndpointUrl(value)).toThrow(message);
  });

  it("in local mode allows loopback over http and https, and nothing else new", () => {
    const local = { allowLoopback: true };
    expect(checkEndpointUrl("http://127.0.0.1:4000/bids", local).port).toBe("4000");
    expect(checkEndpointUrl("https://localhost:4000/bids", local).hostname).toBe("localhost");
    expect(() => checkEndpointUrl("http://10.0.0.8/bids", local)).toThrow(/loopback only/);
    expect(() => checkEndpointUrl("https://192.168.0.2/bids", local)).toThrow(/private/);
    expect(() => checkEndpointUrl("http://u:p@127.0.0.1/bids", local)).toThrow(/credentials/);
  });

  it("never puts the path or query of the endpoint in its messages", () => {
    expect(() => checkEndpointUrl("https://10.0.0.8/hook?token=s3cr3t")).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining("s3cr3t") }),
    );
  });
});

describe("createGuardedLookup: the socket connects only to addresses it vetted", () => {
  function lookupWith(addresses: LookupAddress[], policy = {}) {
    const lookup = createGuardedLookup({ ...policy, resolve: async () => addresses });
    return (options: { all?: boolean; family?: number }) =>
      new Promise<{ error: Error | null; address: unknown; family?: number }>((resolve) => {
        lookup("agent.example", options, (error, address, family) => resolve({ error, address, family }));
      });
  }

  it("hands over the resolved public addresses, in the form the socket asked for", async () => {
    const lookup = lookupWith([
      { address: "93.184.215.14", family: 4 },
      { address: "2606:2800:21f:cb07:6820:80da:af6b:8b2c", family: 6 },
    ]);

    const all = await lookup({ all: true });
    const one = await lookup({});
    const v6 = await lookup({ family: 6 });

    expect(all).toMatchObject({
      error: null,
      address: [
        { address: "93.184.215.14", family: 4 },
        { address: "2606:2800:21f:cb07:6820:80da:af6b:8b2c", family: 6 },
      ],
    });
    expect(one).toEqual({ error: null, address: "93.184.215.14", family: 4 });
    expect(v6).toEqual({ error: null, address: "2606:2800:21f:cb07:6820:80da:af6b:8b2c", family: 6 });
  });

  it("refuses the host when any record is private, even next to a public one (rebinding)", async () => {
    const result = await lookupWith([
      { address: "93.184.215.14", family: 4 },
      { address: "169.254.169.254", family: 4 },
    ])({ all: true });

    expect(result.error).toBeInstanceOf(UnsafeEndpointError);
    expect(result.error?.message).toBe(
      "endpoint host agent.example resolves to 169.254.169.254 (link-local)",
    );
  });

  it.each([["127.0.0.1"], ["::1"], ["fd12:3456::1"], ["::ffff:10.0.0.1"], ["0.0.0.0"]])(
    "refuses a host resolving to %s",
    async (address) => {
      const result = await lookupWith([{ address, family: address.includes(":") ? 6 : 4 }])({});
      expect(result.error).toBeInstanceOf(UnsafeEndpointError);
    },
  );

  it("allows a host resolving to loopback in local mode, and refuses one with no addresses", async () => {
    expect((await lookupWith([{ address: "127.0.0.1", family: 4 }], { allowLoopback: true })({})).error).toBe(
      null,
    );
    expect((await lookupWith([])({})).error).toBeInstanceOf(UnsafeEndpointError);
  });

  it("passes resolver failures (NXDOMAIN) through unchanged, so they stay retryable", async () => {
    const failure = Object.assign(new Error("getaddrinfo ENOTFOUND agent.example"), { code: "ENOTFOUND" });
    const lookup = createGuardedLookup({ resolve: () => Promise.reject(failure) });

    const error = await new Promise((resolve) => lookup("agent.example", {}, (e) => resolve(e)));

    expect(error).toBe(failure);
  });
});
