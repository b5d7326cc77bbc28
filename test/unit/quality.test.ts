import { describe, expect, it } from "vitest";
import { checksScore, qualityScore, reviewsScore } from "../../src/domain/ledger/quality.js";
import {
  desiredOutcome,
  emptyEvidence,
  type LifecycleKind,
  mergeEvidence,
} from "../../src/domain/tasks/evidence.js";

const none = { merged: false, checkConclusions: [], reviewStates: [], reopens: 0 };
const best = { merged: true, checkConclusions: ["success"], reviewStates: ["approved"], reopens: 0 };

describe("quality score formula", () => {
  it.each([
    ["SUCCESS with full evidence", "SUCCESS", best, 1],
    ["SUCCESS with no evidence", "SUCCESS", none, 0.6],
    ["SUCCESS reopened once", "SUCCESS", { ...best, reopens: 1 }, 0.8],
    [
      "SUCCESS with failing checks and changes requested",
      "SUCCESS",
      { ...none, checkConclusions: ["failure"], reviewStates: ["changes_requested"] },
      0.4,
    ],
    ["HUMAN_INTERVENTION with full evidence", "HUMAN_INTERVENTION", best, 0.3],
    ["FAILURE", "FAILURE", best, 0],
  ] as const)("%s → %s", (_label, status, evidence, expected) => {
    expect(
      qualityScore(status, {
        ...evidence,
        checkConclusions: [...evidence.checkConclusions],
        reviewStates: [...evidence.reviewStates],
      }),
    ).toBe(expected);
  });

  it("ignores neutral and skipped checks, and any changes-requested review vetoes approval", () => {
    expect(checksScore(["success", "neutral", "skipped", "failure"])).toBe(0.5);
    expect(checksScore(["neutral"])).toBe(0.5);
    expect(reviewsScore(["approved", "changes_requested"])).toBe(0);
    expect(reviewsScore(["dismissed"])).toBe(0.5);
  });
});

describe("outcome derived from evidence by GitHub timestamps", () => {
  const fact = (kind: LifecycleKind, at: string) => ({ kind, at });

  it("merging is idempotent and order-independent", () => {
    const a = { lifecycle: [fact("closed_completed", "2025-01-01T00:00:00.000Z")] };
    const b = { checks: [{ name: "suite:ci", conclusion: "success", at: "2024-12-31T00:00:00.000Z" }] };

    const ab = mergeEvidence(mergeEvidence(emptyEvidence(), a).evidence, b).evidence;
    const ba = mergeEvidence(mergeEvidence(emptyEvidence(), b).evidence, a).evidence;
    const again = mergeEvidence(ab, a);

    expect(ab).toEqual(ba);
    expect(again.changed).toBe(false);
  });

  it("the latest fact decides; a reopen before any close decides nothing", () => {
    const only = (facts: ReturnType<typeof fact>[]) =>
      desiredOutcome(mergeEvidence(emptyEvidence(), { lifecycle: facts }).evidence);

    expect(only([])).toBeUndefined();
    expect(only([fact("reopened", "2025-01-02T00:00:00.000Z")])).toBeUndefined();
    expect(
      only([
        fact("reopened", "2025-01-02T00:00:00.000Z"),
        fact("closed_completed", "2025-01-01T00:00:00.000Z"),
      ]),
    ).toMatchObject({ status: "FAILURE", decidedAt: "2025-01-02T00:00:00.000Z", reason: "reopened" });
    expect(
      only([
        fact("closed_completed", "2025-01-03T00:00:00.000Z"),
        fact("reopened", "2025-01-02T00:00:00.000Z"),
      ]),
    ).toMatchObject({ status: "SUCCESS", quality_score: 0.48 });
  });

  it("counts only evidence timestamped at or before the deciding fact", () => {
    const evidence = mergeEvidence(emptyEvidence(), {
      lifecycle: [fact("closed_completed", "2025-01-01T00:00:00.000Z")],
      merges: { "https://github.com/o/r/pull/1": "2025-01-02T00:00:00.000Z" },
      reviews: [
        { review_id: "1", reviewer: "ann", state: "approved", at: "2024-12-30T00:00:00.000Z" },
        { review_id: "2", reviewer: "ann", state: "changes_requested", at: "2025-01-05T00:00:00.000Z" },
      ],
    }).evidence;

    expect(desiredOutcome(evidence)).toMatchObject({ status: "SUCCESS", quality_score: 0.7 });
  });

  it("the human-intervention label sticks: a later close as completed is still HUMAN_INTERVENTION", () => {
    const facts = (...list: ReturnType<typeof fact>[]) =>
      desiredOutcome(mergeEvidence(emptyEvidence(), { lifecycle: list }).evidence)?.status;

    expect(facts(fact("human_intervention", "2025-01-01T00:00:00.000Z"))).toBe("HUMAN_INTERVENTION");
    expect(
      facts(
        fact("human_intervention", "2025-01-01T00:00:00.000Z"),
        fact("closed_completed", "2025-01-02T00:00:00.000Z"),
      ),
    ).toBe("HUMAN_INTERVENTION");
    expect(
      facts(
        fact("human_intervention", "2025-01-01T00:00:00.000Z"),
        fact("human_intervention_removed", "2025-01-01T12:00:00.000Z"),
        fact("closed_completed", "2025-01-02T00:00:00.000Z"),
      ),
    ).toBe("SUCCESS");
    expect(
      facts(
        fact("closed_not_planned", "2025-01-02T00:00:00.000Z"),
        fact("human_intervention", "2025-01-01T00:00:00.000Z"),
      ),
    ).toBe("FAILURE");
  });

  it("a review dismissal wins whichever delivery arrives first", () => {
    const approved = {
      review_id: "7",
      reviewer: "ann",
      state: "approved" as const,
      at: "2024-12-30T00:00:00.000Z",
    };
    const dismissed = { ...approved, state: "dismissed" as const };
    const closed = { lifecycle: [fact("closed_completed", "2025-01-01T00:00:00.000Z")] };

    const inOrder = mergeEvidence(mergeEvidence(emptyEvidence(), { reviews: [approved] }).evidence, {
      reviews: [dismissed],
    });
    const reversed = mergeEvidence(mergeEvidence(emptyEvidence(), { reviews: [dismissed] }).evidence, {
      reviews: [approved],
    });

    expect(inOrder.evidence.reviews).toEqual(reversed.evidence.reviews);
    expect(desiredOutcome(mergeEvidence(inOrder.evidence, closed).evidence)?.quality_score).toBe(0.6);
  });

  it("keeps a bounded history per check name and judges by the latest conclusion before the outcome", () => {
    const runs = Array.from({ length: 12 }, (_, i) => ({
      name: "run:test",
      conclusion: i === 9 ? "success" : "failure",
      at: `2025-01-01T00:${String(i).padStart(2, "0")}:00.000Z`,
    }));
    const evidence = mergeEvidence(emptyEvidence(), {
      checks: runs,
      lifecycle: [fact("closed_completed", "2025-01-01T00:09:30.000Z")],
    }).evidence;

    expect(evidence.checks["run:test"]).toHaveLength(5);
    // Latest run before 00:09:30 is the 00:09 success: checks score 1 → E = (0 + 1 + 0.5) / 3.
    expect(desiredOutcome(evidence)?.quality_score).toBe(0.7);
  });
});
