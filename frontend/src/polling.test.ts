import { describe, expect, it, vi } from "vitest";
import { UnavailableError, type JobView } from "./api";
import { DeadlineExceeded, backoffDelays, pollJob, type PollOptions } from "./polling";
import { jobView } from "./test/fixtures";

const OPTIONS: PollOptions = { initialDelayMs: 100, maxDelayMs: 1000, factor: 2, deadlineMs: 5000 };

/** A virtual clock: sleeping advances it, so a test sees the exact waits. */
function virtualTime() {
  let time = 0;
  const waits: number[] = [];
  return {
    waits,
    now: () => time,
    sleep: async (ms: number) => {
      waits.push(ms);
      time += ms;
    },
  };
}

describe("pollJob", () => {
  it("backs off exponentially up to the cap", () => {
    expect(backoffDelays(OPTIONS, 6)).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it("reports each status and resolves when the job is done", async () => {
    const clock = virtualTime();
    const answers: JobView[] = [
      jobView("j1", "queued"),
      jobView("j1", "running"),
      jobView("j1", "done"),
    ];
    const getJob = vi.fn(async () => answers.shift()!);
    const seen: string[] = [];
    const view = await pollJob(getJob, "j1", OPTIONS, {
      ...clock,
      onStatus: (v) => seen.push(v.status),
    });
    expect(view.status).toBe("done");
    expect(seen).toEqual(["queued", "running", "done"]);
    expect(clock.waits).toEqual([100, 200, 400]);
    expect(getJob).toHaveBeenCalledWith("j1", undefined);
  });

  it("resolves with a failed job too", async () => {
    const clock = virtualTime();
    const view = await pollJob(
      async () => jobView("j1", "failed", { error: "boom" }),
      "j1",
      OPTIONS,
      clock,
    );
    expect(view.error).toBe("boom");
  });

  it("gives up at the deadline with the last status seen", async () => {
    const clock = virtualTime();
    const error = await pollJob(async () => jobView("j1", "running"), "j1", OPTIONS, clock).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DeadlineExceeded);
    expect(error).toMatchObject({ jobId: "j1", lastStatus: "running" });
    // The waits never overshoot the deadline: the last look is right at it.
    expect(clock.waits.reduce((a, b) => a + b, 0)).toBe(OPTIONS.deadlineMs);
  });

  it("keeps polling through an unreachable gateway", async () => {
    const clock = virtualTime();
    const unreachable = vi.fn();
    let calls = 0;
    const view = await pollJob(
      async () => {
        calls += 1;
        if (calls < 3) throw new UnavailableError("down", 503);
        return jobView("j1", "done");
      },
      "j1",
      OPTIONS,
      { ...clock, onUnreachable: unreachable },
    );
    expect(view.status).toBe("done");
    expect(unreachable).toHaveBeenCalledTimes(2);
  });

  it("stops on other errors (an expired job)", async () => {
    const clock = virtualTime();
    await expect(
      pollJob(async () => Promise.reject(new Error("No such job")), "j1", OPTIONS, clock),
    ).rejects.toThrow("No such job");
  });

  it("stops when aborted", async () => {
    const controller = new AbortController();
    const polling = pollJob(
      async () => jobView("j1", "queued"),
      "j1",
      OPTIONS,
      {},
      controller.signal,
    );
    controller.abort();
    await expect(polling).rejects.toHaveProperty("name", "AbortError");
  });
});
