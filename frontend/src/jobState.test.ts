import { describe, expect, it } from "vitest";
import { IDLE, isBusy, jobReducer, type JobAction, type JobState } from "./jobState";
import { SETOSA, SETOSA_FLOWER, response } from "./test/fixtures";

function run(actions: JobAction[], from: JobState = IDLE): JobState {
  return actions.reduce(jobReducer, from);
}

describe("jobReducer", () => {
  it("moves idle → submitting → queued → running → done, timing from the submit", () => {
    const submitted = run([{ type: "submit", startedAt: 1000, count: 1 }]);
    expect(submitted).toEqual({ phase: "submitting", startedAt: 1000, count: 1 });
    const queued = run([{ type: "status", jobId: "j1", status: "queued" }], submitted);
    expect(queued).toMatchObject({ phase: "queued", jobId: "j1", startedAt: 1000 });
    const running = run([{ type: "status", jobId: "j1", status: "running" }], queued);
    expect(running.phase).toBe("running");
    expect(isBusy(running)).toBe(true);
    const done = run(
      [{ type: "done", items: [SETOSA_FLOWER], response: response([SETOSA], "j1"), at: 1750 }],
      running,
    );
    expect(done).toEqual({
      phase: "done",
      items: [SETOSA_FLOWER],
      response: response([SETOSA], "j1"),
      timing: { source: "round-trip", totalMs: 750 },
      cached: false,
    });
    expect(isBusy(done)).toBe(false);
  });

  it("marks an answer whose items all came from the cache", () => {
    const cached = response([{ ...SETOSA, cached: true }]);
    const state = run([
      { type: "submit", startedAt: 0, count: 1 },
      { type: "done", items: [SETOSA_FLOWER], response: cached, at: 5 },
    ]);
    expect(state).toMatchObject({
      phase: "done",
      cached: true,
      timing: { source: "round-trip", totalMs: 5 },
    });
  });

  it("keeps the job's own time from its record when the answer came from a job", () => {
    const timing = { source: "job" as const, totalMs: 12, queuedMs: 2, runMs: 10 };
    const state = run([
      { type: "submit", startedAt: 0, count: 1 },
      { type: "status", jobId: "j1", status: "queued" },
      { type: "done", items: [SETOSA_FLOWER], response: response([SETOSA], "j1"), at: 900, timing },
    ]);
    expect(state).toMatchObject({ phase: "done", timing });
  });

  it("ignores statuses of another job", () => {
    const queued = run([
      { type: "submit", startedAt: 0, count: 1 },
      { type: "status", jobId: "j1", status: "queued" },
    ]);
    expect(run([{ type: "status", jobId: "old", status: "running" }], queued)).toBe(queued);
  });

  it("goes overdue at the deadline and resumes on check again", () => {
    const overdue = run([
      { type: "submit", startedAt: 0, count: 1 },
      { type: "status", jobId: "j1", status: "running" },
      { type: "overdue", jobId: "j1", lastStatus: "running" },
    ]);
    expect(overdue).toMatchObject({ phase: "overdue", jobId: "j1", lastStatus: "running" });
    expect(run([{ type: "resume", jobId: "j1" }], overdue)).toMatchObject({
      phase: "running",
      jobId: "j1",
      startedAt: 0,
    });
  });

  it("records a failure and resets to idle", () => {
    const failed = run([
      { type: "submit", startedAt: 0, count: 1 },
      { type: "failed", failure: { kind: "unavailable", detail: "down" } },
    ]);
    expect(failed).toEqual({ phase: "failed", failure: { kind: "unavailable", detail: "down" } });
    expect(run([{ type: "reset" }], failed)).toBe(IDLE);
  });

  it("notes an unreachable gateway while following a job", () => {
    const state = run([
      { type: "submit", startedAt: 0, count: 1 },
      { type: "status", jobId: "j1", status: "queued" },
      { type: "unreachable", jobId: "j1" },
    ]);
    expect(state).toMatchObject({ phase: "queued", unreachable: true });
  });
});
