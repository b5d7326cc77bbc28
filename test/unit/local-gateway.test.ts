import { describe, expect, it } from "vitest";
import type { LocalFunction } from "../../src/local/function-runtime.js";
import { matchRoutePath, selectRoute } from "../../src/local/http-gateway.js";
import { ratePeriodMs } from "../../src/local/scheduler.js";
import { FUNCTIONS, httpRoutes } from "../../src/topology.js";

describe("matchRoutePath (HTTP API route templates)", () => {
  it("matches literal paths exactly", () => {
    expect(matchRoutePath("/agents", "/agents")).toEqual({});
    expect(matchRoutePath("/agents", "/agents/a1")).toBeUndefined();
    expect(matchRoutePath("/audit/verify", "/audit")).toBeUndefined();
  });

  it("binds one segment to {name} and the rest of the path to {name+}", () => {
    expect(matchRoutePath("/agents/{id}", "/agents/a1")).toEqual({ id: "a1" });
    expect(matchRoutePath("/agents/{id}", "/agents/a1/kill")).toBeUndefined();
    expect(
      matchRoutePath("/tasks/{proxy+}", "/tasks/https%3A%2F%2Fgithub.com%2Fo%2Fr%2Fissues%2F1/ledger"),
    ).toEqual({
      proxy: "https%3A%2F%2Fgithub.com%2Fo%2Fr%2Fissues%2F1/ledger",
    });
    // A greedy parameter needs at least one segment, as on API Gateway.
    expect(matchRoutePath("/tasks/{proxy+}", "/tasks/")).toBeUndefined();
    expect(matchRoutePath("/tasks/{proxy+}", "/tasks")).toBeUndefined();
  });
});

describe("selectRoute over the deployed routes", () => {
  const fn = (id: string) => ({ name: id }) as LocalFunction;
  const routes = httpRoutes().map(({ fn: spec, route }) => ({ route, fn: fn(spec.id) }));

  it("sends each path to the function the topology names", () => {
    expect(selectRoute(routes, "POST", "/webhooks/github")?.fn.name).toBe("github-receiver");
    expect(selectRoute(routes, "GET", "/agents")?.fn.name).toBe("rest-api");
    expect(selectRoute(routes, "POST", "/agents/a1/kill")?.fn.name).toBe("rest-api");
    expect(selectRoute(routes, "GET", "/audit/verify")?.route.auth).toBe("token");
  });

  it("has no route for methods or paths the HTTP API does not declare", () => {
    expect(selectRoute(routes, "GET", "/webhooks/github")).toBeUndefined();
    expect(selectRoute(routes, "POST", "/audit/verify")).toBeUndefined();
    expect(selectRoute(routes, "GET", "/")).toBeUndefined();
  });

  it("prefers a literal path to a template and a named method to ANY", () => {
    const mixed = [
      { route: { method: "ANY" as const, path: "/x/{proxy+}", auth: "none" as const }, fn: fn("greedy") },
      { route: { method: "ANY" as const, path: "/x/{id}", auth: "none" as const }, fn: fn("single") },
      { route: { method: "ANY" as const, path: "/x/literal", auth: "none" as const }, fn: fn("literal-any") },
      { route: { method: "GET" as const, path: "/x/literal", auth: "none" as const }, fn: fn("literal-get") },
    ];
    expect(selectRoute(mixed, "GET", "/x/literal")?.fn.name).toBe("literal-get");
    expect(selectRoute(mixed, "POST", "/x/literal")?.fn.name).toBe("literal-any");
    expect(selectRoute(mixed, "GET", "/x/other")?.fn.name).toBe("single");
    expect(selectRoute(mixed, "GET", "/x/a/b")?.fn.name).toBe("greedy");
  });
});

describe("ratePeriodMs (EventBridge rate expressions)", () => {
  it("reads every schedule of the topology", () => {
    const periods = FUNCTIONS.flatMap((f) =>
      f.trigger.kind === "schedule" ? [ratePeriodMs(f.trigger.expression)] : [],
    );
    expect(periods.length).toBeGreaterThan(0);
    expect(periods.every((ms) => ms >= 60_000)).toBe(true);
  });

  it("converts units", () => {
    expect(ratePeriodMs("rate(1 minute)")).toBe(60_000);
    expect(ratePeriodMs("rate(5 minutes)")).toBe(300_000);
    expect(ratePeriodMs("rate(1 hour)")).toBe(3_600_000);
    expect(ratePeriodMs("rate(2 days)")).toBe(172_800_000);
  });

  it("refuses what EventBridge refuses and what the local stack cannot run", () => {
    expect(() => ratePeriodMs("rate(1 minutes)")).toThrow(/singular/);
    expect(() => ratePeriodMs("rate(5 minute)")).toThrow(/singular/);
    expect(() => ratePeriodMs("rate(0 minutes)")).toThrow(/Unsupported/);
    expect(() => ratePeriodMs("cron(0 12 * * ? *)")).toThrow(/rate\(N unit\) only/);
  });
});
