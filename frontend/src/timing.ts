// How long an answer took, and whose clock says so.
import type { JobView } from "./api";

export type Timing =
  /** From the job's record: the gateway stamps created_at, a worker started_at and finished_at. */
  | { source: "job"; totalMs: number; queuedMs: number | null; runMs: number | null }
  /** No job record to read (an answer from the cache, or a sync answer): the page's round trip. */
  | { source: "round-trip"; totalMs: number };

/** The job's own time from its record's timestamps (epoch seconds); null while it is open. */
export function jobTiming(view: JobView): Timing | null {
  const { created_at: created, started_at: started, finished_at: finished } = view;
  if (finished == null) return null;
  const ms = (from: number, to: number) => Math.max(0, (to - from) * 1000);
  // A started_at outside [created_at, finished_at] (clocks of two hosts) splits nothing.
  const split = started != null && started >= created && started <= finished;
  return {
    source: "job",
    totalMs: ms(created, finished),
    queuedMs: split ? ms(created, started) : null,
    runMs: split ? ms(started, finished) : null,
  };
}

export function roundTrip(startedAt: number, at: number): Timing {
  return { source: "round-trip", totalMs: Math.max(0, at - startedAt) };
}
