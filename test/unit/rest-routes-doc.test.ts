import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { REST_ROUTES, type RestRoute } from "../../src/http/rest-routes.js";

const WHO: Record<RestRoute["access"], string> = {
  operator: "operators",
  self: "operators; the agent itself",
  agent: "operators; agents (narrowed, see below)",
};

/** The README row a route must have: the permission table is documentation people rely on. */
function row(route: RestRoute): string {
  const query = route.query.length ? `?${route.query.map((k) => `${k}=`).join("&")}` : "";
  const path = route.path.replace(/:(\w+)/g, "{$1}");
  return `| \`${route.method} ${path}${query}\` | \`${route.permission}\` | ${WHO[route.access]} | ${route.summary} |`;
}

describe("README REST API permission table", () => {
  it("has exactly one row per declared route, as declared", () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    const documented = readme.split("\n").filter((line) => /^\| `(GET|POST) \//.test(line));
    expect(documented).toEqual(REST_ROUTES.map(row));
  });
});
