import { describe, expect, it } from "vitest";
import { jobTiming, roundTrip } from "./timing";
import { jobView } from "./test/fixtures";

describe("jobTiming", () => {
  it("takes the job's time from its record: queued, running and in all", () => {
    const view = jobView("j1", "done", { created_at: 100, started_at: 100.25, finished_at: 101 });
    expect(jobTiming(view)).toEqual({ source: "job", totalMs: 1000, queuedMs: 250, runMs: 750 });
  });

  it("has no time for a job still open", () => {
    expect(jobTiming(jobView("j1", "running"))).toBeNull();
  });

  it("gives the total alone when the start is missing or outside the job's span", () => {
    const unstarted = jobView("j1", "failed", {
      created_at: 100,
      started_at: null,
      finished_at: 102,
    });
    expect(jobTiming(unstarted)).toEqual({
      source: "job",
      totalMs: 2000,
      queuedMs: null,
      runMs: null,
    });
    const skewed = jobView("j1", "done", { created_at: 100, started_at: 99, finished_at: 100.5 });
    expect(jobTiming(skewed)).toMatchObject({ totalMs: 500, queuedMs: null, runMs: null });
  });

  it("never gives a negative time", () => {
    const view = jobView("j1", "done", { created_at: 100, started_at: null, finished_at: 99.9 });
    expect(jobTiming(view)?.totalMs).toBe(0);
    expect(roundTrip(10, 5).totalMs).toBe(0);
  });
});
