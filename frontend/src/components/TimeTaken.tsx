import { formatDuration } from "../format";
import type { Timing } from "../timing";

/** "12 ms (4 ms queued, 8 ms running)" from the job's record, or the page's round trip. */
export function TimeTaken({ timing, cached }: { timing: Timing; cached: boolean }) {
  if (timing.source === "job") {
    const split =
      timing.queuedMs !== null && timing.runMs !== null
        ? ` (${formatDuration(timing.queuedMs)} queued, ${formatDuration(timing.runMs)} running)`
        : "";
    return (
      <>
        {formatDuration(timing.totalMs)}
        {split} <span className="muted">from the job&apos;s record</span>
      </>
    );
  }
  return (
    <>
      {formatDuration(timing.totalMs)}{" "}
      <span className="muted">
        {cached
          ? "round trip, measured by the page (a cached answer has no job)"
          : "round trip, measured by the page (the answer carries no job times)"}
      </span>
    </>
  );
}
