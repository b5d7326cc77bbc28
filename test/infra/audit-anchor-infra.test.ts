import { describe, expect, it } from "vitest";
import { FUNCTIONS } from "../../src/topology.js";
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

/** Every statement of each function's role, and its environment, by function id. */
function roles(context: Record<string, unknown> = {}) {
  const { service } = synthApp(context);
  const fns = resourcesOf(service, "AWS::Lambda::Function");
  const policies = Object.values(resourcesOf(service, "AWS::IAM::Policy"));
  return Object.fromEntries(
    FUNCTIONS.map((spec) => {
      const found = Object.values(fns).find((r) =>
        String(r.Properties.Description).startsWith(`AgentForge ${spec.id}:`),
      );
      const props = found?.Properties ?? {};
      const roleId = (props.Role as { "Fn::GetAtt": [string] } | undefined)?.["Fn::GetAtt"][0] ?? "?";
      const statements = policies
        .filter((p) => json(p.Properties.Roles).includes(`"${roleId}"`))
        .flatMap((p) => asArray((p.Properties.PolicyDocument as { Statement: Statement[] }).Statement));
      const env = (props.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
      return [spec.id, { statements, env }];
    }),
  );
}

const actionsOf = (statements: Statement[], prefix: string) =>
  statements.flatMap((s) => asArray(s.Action).filter((a) => a.startsWith(prefix))).sort();

describe("audit anchors: data stack", () => {
  it("keeps anchors in a retained, versioned bucket with Object Lock in COMPLIANCE mode for 365 days", () => {
    const { data } = synthApp();
    const buckets = Object.values(data.findResources("AWS::S3::Bucket"));

    expect(buckets).toHaveLength(1);
    expect(buckets[0]).toMatchObject({
      DeletionPolicy: "Retain",
      UpdateReplacePolicy: "Retain",
      Properties: {
        ObjectLockEnabled: true,
        ObjectLockConfiguration: {
          ObjectLockEnabled: "Enabled",
          Rule: { DefaultRetention: { Mode: "COMPLIANCE", Days: 365 } },
        },
        VersioningConfiguration: { Status: "Enabled" },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: "AES256" } }],
        },
      },
    });
    // enforceSSL: the bucket policy denies every request without TLS.
    const policy = Object.values(data.findResources("AWS::S3::BucketPolicy"))[0];
    expect(json(policy)).toContain('"aws:SecureTransport":"false"');
    expect(Object.keys(data.findOutputs("*"))).toEqual(
      expect.arrayContaining(["AuditAnchorBucketName", "AuditAnchorKeyArn"]),
    );
  });

  it("takes the retention from context", () => {
    const { data } = synthApp({ auditAnchorRetentionDays: "2557" });

    data.hasResourceProperties("AWS::S3::Bucket", {
      ObjectLockConfiguration: { Rule: { DefaultRetention: { Mode: "COMPLIANCE", Days: 2557 } } },
    });
    expect(() => synthApp({ auditAnchorRetentionDays: "0" })).toThrow(/auditAnchorRetentionDays/);
  });

  it("signs with a retained asymmetric ECC_NIST_P256 SIGN_VERIFY key aliased alias/agentforge/audit-anchor", () => {
    const { data } = synthApp();
    const keys = Object.values(data.findResources("AWS::KMS::Key")).filter(
      (key) => key.Properties?.KeySpec === "ECC_NIST_P256",
    );

    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({
      DeletionPolicy: "Retain",
      Properties: { KeySpec: "ECC_NIST_P256", KeyUsage: "SIGN_VERIFY" },
    });
    data.hasResourceProperties("AWS::KMS::Alias", { AliasName: "alias/agentforge/audit-anchor" });
  });
});

describe("audit anchors: least privilege", () => {
  const WRITERS = ["projector", "audit-verify"];
  const VERIFIERS = ["rest-api", "audit-verify"];

  it("lets only the writers sign and put, and only the verifiers fetch the public key", () => {
    const all = roles();
    for (const [id, { statements, env }] of Object.entries(all)) {
      const anchorKms = statements.filter((s) => s.Sid === "AuditAnchorKey");
      const kms = actionsOf(anchorKms, "kms:");
      const s3 = actionsOf(statements, "s3:");
      const expectedKms = [
        ...(WRITERS.includes(id) ? ["kms:Sign"] : []),
        ...(VERIFIERS.includes(id) ? ["kms:GetPublicKey"] : []),
      ].sort();
      expect(kms, id).toEqual(expectedKms);
      for (const statement of anchorKms) {
        expect(json(statement.Resource), id).toMatch(/Fn::ImportValue.*AuditAnchorKey/);
      }
      const expectedS3 =
        WRITERS.includes(id) || VERIFIERS.includes(id)
          ? [...(WRITERS.includes(id) ? ["s3:PutObject"] : []), "s3:GetObject", "s3:ListBucket"].sort()
          : [];
      expect(s3, id).toEqual(expectedS3);
      const anchored = expectedS3.length > 0;
      expect(Object.keys(env).includes("AUDIT_ANCHOR_BUCKET"), id).toBe(anchored);
      expect(Object.keys(env).includes("AUDIT_ANCHOR_KMS_KEY_ID"), id).toBe(anchored);
    }
  });

  it("scopes object access to anchors/* of the anchor bucket and listing to the anchors/ prefix", () => {
    for (const [id, { statements }] of Object.entries(roles())) {
      for (const statement of statements.filter((s) => actionsOf([s], "s3:").length > 0)) {
        const resource = json(statement.Resource);
        expect(resource, id).toContain("agentforge-audit-anchors-");
        if (statement.Sid === "AuditAnchorList") {
          expect(asArray(statement.Action), id).toEqual(["s3:ListBucket"]);
          expect(statement.Condition, id).toEqual({ StringLike: { "s3:prefix": ["anchors/*"] } });
          expect(resource, id).not.toContain("/anchors");
        } else {
          expect(resource, id).toMatch(/\/anchors\/\*"/);
        }
      }
    }
  });

  it("gives nobody a way to delete anchors or change their retention", () => {
    const forbidden = [
      "s3:DeleteObject",
      "s3:DeleteObjectVersion",
      "s3:PutObjectRetention",
      "s3:BypassGovernanceRetention",
      "s3:PutBucketObjectLockConfiguration",
      "s3:*",
      "kms:*",
      "kms:ScheduleKeyDeletion",
    ];
    for (const [id, { statements }] of Object.entries(roles())) {
      const actions = statements.flatMap((s) => asArray(s.Action));
      for (const action of forbidden) expect(actions, id).not.toContain(action);
    }
  });

  it("passes the minimum interval from context to the functions that anchor", () => {
    const withInterval = Object.entries(roles({ auditAnchorMinIntervalSeconds: "300" }))
      .filter(([, { env }]) => env.AUDIT_ANCHOR_MIN_INTERVAL_SECONDS === "300")
      .map(([id]) => id)
      .sort();

    expect(withInterval).toEqual(["audit-verify", "projector"]);
  });
});
