import { describe, expect, it } from "vitest";
import type { JobView } from "./api";
import { StreamUnavailable, streamJob, type StreamOptions } from "./jobEvents";
import { DeadlineExceeded } from "./polling";
import { FakeEventSources } from "./test/fakeEventSource";
import { SETOSA, jobView } from "./test/fixtures";

const OPTIONS: StreamOptions = { deadlineMs: 60_000, firstEventMs: 3000 };

/** Timers the test fires by hand: `fire(ms)` runs every timer set for that delay. */
function manualTimers() {
  const timers: { ms: number; callback: () => void; live: boolean }[] = [];
  return {
    setTimer: (callback: () => void, ms: number) => {
      const timer = { ms, callback, live: true };
      timers.push(timer);
      return () => {
        timer.live = false;
      };
    },
    fire: (ms: number) => timers.filter((t) => t.live && t.ms === ms).forEach((t) => t.callback()),
    live: () => timers.filter((t) => t.live).length,
  };
}

function follow(jobId = "j1", signal?: AbortSignal) {
  const sources = new FakeEventSources();
  const timers = manualTimers();
  const seen: string[] = [];
  const open = (id: string) => sources.open(`/jobs/${id}/events`);
  const result = streamJob(
    open,
    jobId,
    OPTIONS,
    { setTimer: timers.setTimer, onStatus: (v: JobView) => seen.push(v.status) },
    signal,
  );
  const stream = sources.opened[0]!;
  return { result, stream, seen, timers };
}

describe("streamJob", () => {
  it("reports each event's status, resolves with the done view and closes the stream", async () => {
    const { result, stream, seen, timers } = follow();
    expect(stream.url).toBe("/jobs/j1/events");
    stream.emit("queued", jobView("j1", "queued"));
    stream.emit("running", jobView("j1", "running"));
    stream.emit("done", jobView("j1", "done", { items: [SETOSA] }));
    const view = await result;
    expect(view).toEqual(jobView("j1", "done", { items: [SETOSA] }));
    expect(seen).toEqual(["queued", "running", "done"]);
    expect(stream.closed).toBe(true);
    expect(timers.live()).toBe(0);
  });

  it("resolves with a failed job too", async () => {
    const { result, stream } = follow();
    stream.emit("failed", jobView("j1", "failed", { error: "boom" }));
    expect((await result).error).toBe("boom");
    expect(stream.closed).toBe(true);
  });

  it("is unavailable where the browser has no EventSource", async () => {
    await expect(streamJob(() => null, "j1", OPTIONS)).rejects.toBeInstanceOf(StreamUnavailable);
  });

  it("is unavailable after an error before the final event, and closes the stream", async () => {
    const { result, stream, seen } = follow();
    stream.emit("queued", jobView("j1", "queued"));
    stream.fail();
    await expect(result).rejects.toBeInstanceOf(StreamUnavailable);
    expect(stream.closed).toBe(true);
    expect(seen).toEqual(["queued"]);
  });

  it("is unavailable when no event arrives in time (a proxy that buffers the stream)", async () => {
    const { result, stream, timers } = follow();
    timers.fire(OPTIONS.firstEventMs);
    await expect(result).rejects.toThrow("no event arrived");
    expect(stream.closed).toBe(true);
  });

  it("waits past the first event's limit once an event has come", async () => {
    const { result, stream, timers } = follow();
    stream.emit("queued", jobView("j1", "queued"));
    timers.fire(OPTIONS.firstEventMs);
    stream.emit("done", jobView("j1", "done"));
    expect((await result).status).toBe("done");
  });

  it("is unavailable when an event carries no view of this job", async () => {
    const { result, stream } = follow();
    stream.emit("queued", "not json");
    await expect(result).rejects.toBeInstanceOf(StreamUnavailable);
    const other = follow();
    other.stream.emit("done", jobView("another", "done"));
    await expect(other.result).rejects.toBeInstanceOf(StreamUnavailable);
  });

  it("gives up at the deadline with the last status seen", async () => {
    const { result, stream, timers } = follow();
    stream.emit("running", jobView("j1", "running"));
    timers.fire(OPTIONS.deadlineMs);
    const error = await result.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeadlineExceeded);
    expect(error).toMatchObject({ jobId: "j1", lastStatus: "running" });
    expect(stream.closed).toBe(true);
  });

  it("closes the stream when aborted", async () => {
    const controller = new AbortController();
    const { result, stream, timers } = follow("j1", controller.signal);
    controller.abort();
    await expect(result).rejects.toHaveProperty("name", "AbortError");
    expect(stream.closed).toBe(true);
    expect(timers.live()).toBe(0);
  });
});
