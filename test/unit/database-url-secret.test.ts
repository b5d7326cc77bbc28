import { describe, expect, it } from "vitest";
import { databaseUrlFromSecret } from "../../functions/shared/container.js";

/** Percent-decoding as `pg`'s connection-string parser does it (text that is no valid escape stays). */
function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** What a PostgreSQL client reads back from the URL. */
function credentialsOf(url: string) {
  const parsed = new URL(url);
  return {
    username: decode(parsed.username),
    password: decode(parsed.password),
    host: parsed.hostname,
    port: parsed.port,
    database: decode(parsed.pathname.slice(1)),
    sslmode: parsed.searchParams.get("sslmode"),
  };
}

const RDS_HOST = "gov.cluster-abc123.eu-west-1.rds.amazonaws.com";

/** The JSON an RDS-managed (or CDK `DatabaseSecret`) secret holds. */
function rdsSecret(overrides: Record<string, unknown> = {}): string {
  return JSON.stringify({
    engine: "postgres",
    username: "agentforge",
    password: "s3cr3t",
    host: RDS_HOST,
    port: 5432,
    dbname: "governance",
    dbClusterIdentifier: "gov",
    ...overrides,
  });
}

describe("databaseUrlFromSecret", () => {
  it("passes a plain URL through, trimmed", () => {
    const url = "postgres://gov:pw@db.internal:5432/governance?sslmode=verify-full";
    expect(databaseUrlFromSecret(url)).toBe(url);
    expect(databaseUrlFromSecret(`  ${url}\n`)).toBe(url);
  });

  it("builds a URL from an RDS JSON secret, with sslmode=require", () => {
    expect(databaseUrlFromSecret(rdsSecret())).toBe(
      `postgres://agentforge:s3cr3t@${RDS_HOST}:5432/governance?sslmode=require`,
    );
    expect(databaseUrlFromSecret(`\n ${rdsSecret()} \n`)).toBe(
      `postgres://agentforge:s3cr3t@${RDS_HOST}:5432/governance?sslmode=require`,
    );
  });

  it("percent-encodes the URL's reserved characters in the password and user name", () => {
    const password = "pa ss@w:rd/#?&=";
    const url = databaseUrlFromSecret(rdsSecret({ username: "gov user", password }));
    expect(url).toBe(
      `postgres://gov%20user:pa%20ss%40w%3Ard%2F%23%3F%26%3D@${RDS_HOST}:5432/governance?sslmode=require`,
    );
    expect(credentialsOf(url)).toEqual({
      username: "gov user",
      password,
      host: RDS_HOST,
      port: "5432",
      database: "governance",
      sslmode: "require",
    });
  });

  // Regression: the URL is built as text with encodeURIComponent; the WHATWG URL setters leave '%' unencoded.
  it("round-trips a password that contains '%'", () => {
    for (const password of ["100%", "p%41ss", "x%2Fy"]) {
      const url = databaseUrlFromSecret(rdsSecret({ password }));
      expect(credentialsOf(url).password, url).toBe(password);
    }
  });

  it("defaults the database to postgres, keeps a string port, and omits a missing port", () => {
    expect(databaseUrlFromSecret(rdsSecret({ dbname: undefined, port: "6543" }))).toBe(
      `postgres://agentforge:s3cr3t@${RDS_HOST}:6543/postgres?sslmode=require`,
    );
    expect(databaseUrlFromSecret(rdsSecret({ port: undefined }))).toBe(
      `postgres://agentforge:s3cr3t@${RDS_HOST}/governance?sslmode=require`,
    );
  });

  it("refuses JSON that does not parse, without echoing the secret", () => {
    const broken = '{"username":"agentforge","password":"hunter2-secret",';
    expect(() => databaseUrlFromSecret(broken)).toThrow(
      "The DATABASE_URL secret looks like JSON but does not parse",
    );
    try {
      databaseUrlFromSecret(broken);
    } catch (error) {
      expect((error as Error).message).not.toContain("hunter2");
    }
  });

  it("refuses a JSON secret without username, password or host", () => {
    for (const missing of ["username", "password", "host"]) {
      expect(() => databaseUrlFromSecret(rdsSecret({ [missing]: undefined }))).toThrow(
        "The DATABASE_URL secret JSON needs username, password and host",
      );
    }
    expect(() => databaseUrlFromSecret(rdsSecret({ password: 12345 }))).toThrow(
      "The DATABASE_URL secret JSON needs username, password and host",
    );
  });
});
