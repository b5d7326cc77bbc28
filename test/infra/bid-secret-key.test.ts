import { describe, expect, it } from "vitest";
import { BID_SECRET_ENCRYPTION_CONTEXT } from "../../src/adapters/crypto/encryption-context.js";
import { FUNCTIONS, type FunctionSpec, topologyProblems } from "../../src/topology.js";
import { resourcesOf, synthApp } from "./synth.js";

type Statement = {
  Sid?: string;
  Effect: string;
  Action?: string | string[];
  Resource?: unknown;
  Condition?: unknown;
};

const asArray = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];
const json = (value: unknown) => JSON.stringify(value);

/** Each topology function's synthesized properties and every KMS action its role is allowed. */
function functionsWithKms() {
  const { service } = synthApp();
  const fns = resourcesOf(service, "AWS::Lambda::Function");
  const policies = Object.values(resourcesOf(service, "AWS::IAM::Policy"));
  return FUNCTIONS.map((spec) => {
    const found = Object.values(fns).find((r) =>
      String(r.Properties.Description).startsWith(`AgentForge ${spec.id}:`),
    );
    const props = found?.Properties ?? {};
    const roleId = (props.Role as { "Fn::GetAtt": [string] } | undefined)?.["Fn::GetAtt"][0] ?? "?";
    const statements = policies
      .filter((p) => json(p.Properties.Roles).includes(`"${roleId}"`))
      .flatMap((p) => asArray((p.Properties.PolicyDocument as { Statement: Statement[] }).Statement))
      .filter((s) => asArray(s.Action).some((a) => a.startsWith("kms:")))
      // The audit anchor key's grants are checked in audit-anchor-infra.test.ts.
      .filter((s) => s.Sid !== "AuditAnchorKey");
    const variables =
      (props.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
    return { spec, statements, variables };
  });
}

const usesKey = (spec: FunctionSpec) => spec.grants.some((g) => g.kind === "bidSecretKey");

describe("bid-secret KMS key", () => {
  it("is a symmetric customer managed key with rotation, retained, with an alias and an output", () => {
    const { data } = synthApp();
    // The other key is the asymmetric audit anchor key (audit-anchor-infra.test.ts).
    const keys = Object.entries(data.findResources("AWS::KMS::Key")).filter(
      ([, key]) => (key.Properties?.KeySpec ?? "SYMMETRIC_DEFAULT") === "SYMMETRIC_DEFAULT",
    );

    expect(keys).toHaveLength(1);
    const [, key] = keys[0] ?? [];
    expect(key).toMatchObject({
      Properties: { EnableKeyRotation: true },
      DeletionPolicy: "Retain",
      UpdateReplacePolicy: "Retain",
    });
    expect(key?.Properties.KeySpec ?? "SYMMETRIC_DEFAULT").toBe("SYMMETRIC_DEFAULT");
    data.hasResourceProperties("AWS::KMS::Alias", { AliasName: "alias/agentforge/bid-secrets" });
    expect(Object.keys(data.findOutputs("*"))).toContain("BidSecretKeyArn");
  });

  it("is named by BID_SECRET_KMS_KEY_ID exactly on the functions that sign or verify agent messages", () => {
    const withKey = functionsWithKms().filter(({ spec }) => usesKey(spec));

    // Registration and rotation (rest-api) seal secrets; the bid worker verifies agents' messages;
    // the delivery worker signs what goes to them. Nothing else touches a secret.
    expect(withKey.map(({ spec }) => spec.id).sort()).toEqual([
      "bid-worker",
      "delivery-worker",
      "https-delivery-worker",
      "rest-api",
    ]);
    for (const { spec, variables } of functionsWithKms()) {
      if (usesKey(spec)) {
        expect(json(variables.BID_SECRET_KMS_KEY_ID), spec.id).toMatch(/Fn::ImportValue.*BidSecretKey/);
      } else {
        expect(variables, spec.id).not.toHaveProperty("BID_SECRET_KMS_KEY_ID");
      }
    }
  });

  it("grants only GenerateDataKey and Decrypt, on that one key, under the bid-secret encryption context", () => {
    for (const { spec, statements } of functionsWithKms()) {
      if (!usesKey(spec)) {
        expect(statements, spec.id).toEqual([]);
        continue;
      }
      const [statement, ...others] = statements;
      expect(others, spec.id).toEqual([]);
      expect(asArray(statement?.Action).sort(), spec.id).toEqual(["kms:Decrypt", "kms:GenerateDataKey"]);
      expect(json(statement?.Resource), spec.id).toMatch(/Fn::ImportValue.*BidSecretKey/);
      expect(statement?.Condition, spec.id).toEqual({
        StringEquals: { "kms:EncryptionContext:purpose": BID_SECRET_ENCRYPTION_CONTEXT.purpose },
      });
    }
  });

  it("passes the rotation overlap from context to the REST API only", () => {
    const { service } = synthApp({ secretRotationOverlapSeconds: "900" });
    const fns = Object.values(resourcesOf(service, "AWS::Lambda::Function"));
    const withOverlap = fns.filter((f) =>
      json(f.Properties.Environment).includes("SECRET_ROTATION_OVERLAP_SECONDS"),
    );

    expect(withOverlap.map((f) => String(f.Properties.Description).split(":")[0])).toEqual([
      "AgentForge rest-api",
    ]);
    expect(json(withOverlap[0]?.Properties.Environment)).toContain('"SECRET_ROTATION_OVERLAP_SECONDS":"900"');
  });

  it("topology checks flag a key grant without its variable and the variable without the grant", () => {
    const rest = FUNCTIONS.find((f) => f.id === "rest-api") as FunctionSpec;
    const intake = FUNCTIONS.find((f) => f.id === "intake-worker") as FunctionSpec;

    expect(
      topologyProblems([
        ...FUNCTIONS.filter((f) => f !== rest && f !== intake),
        { ...rest, environment: rest.environment.filter((k) => k !== "BID_SECRET_KMS_KEY_ID") },
        { ...intake, environment: [...intake.environment, "BID_SECRET_KMS_KEY_ID"] },
      ]),
    ).toEqual([
      "rest-api may use the bid-secret key but lacks BID_SECRET_KMS_KEY_ID",
      "intake-worker names BID_SECRET_KMS_KEY_ID without being allowed to use the key",
    ]);
  });
});
