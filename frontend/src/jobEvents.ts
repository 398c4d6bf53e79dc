// Following a job by push: GET /jobs/{id}/events (server-sent events) until done or failed.
import type { EventStream, JobStatus, JobView } from "./api";
import { DeadlineExceeded, abortError } from "./polling";

export const JOB_EVENTS: readonly JobStatus[] = ["queued", "running", "done", "failed"];

export interface StreamOptions {
  /** After this long without a finished job, give up and say so, as polling does. */
  deadlineMs: number;
  /**
   * The gateway sends the job's current state as soon as the stream opens. Silence past this
   * means something on the way holds the stream back (a buffering proxy): fall back.
   */
  firstEventMs: number;
}

export const DEFAULT_STREAM: StreamOptions = { deadlineMs: 60_000, firstEventMs: 3000 };

export interface StreamHooks {
  onStatus?: (view: JobView) => void;
  setTimer?: (callback: () => void, ms: number) => () => void;
}

/** The stream cannot be used (no EventSource, an error before the end, silence): poll instead. */
export class StreamUnavailable extends Error {
  constructor(reason: string) {
    super(`the job's event stream is unavailable: ${reason}`);
    this.name = "StreamUnavailable";
  }
}

function browserTimer(callback: () => void, ms: number): () => void {
  const timer = setTimeout(callback, ms);
  return () => clearTimeout(timer);
}

function parseView(event: Event, jobId: string): JobView | null {
  const data: unknown = (event as MessageEvent).data;
  if (typeof data !== "string") return null;
  try {
    const view = JSON.parse(data) as JobView;
    return view && view.job_id === jobId && JOB_EVENTS.includes(view.status) ? view : null;
  } catch {
    return null;
  }
}

/**
 * Resolves with the job once an event says done or failed. Rejects with StreamUnavailable
 * (the caller polls instead), DeadlineExceeded, or an AbortError. The stream is always closed
 * when this settles: EventSource would otherwise reconnect after the server ends it.
 */
export function streamJob(
  open: (jobId: string) => EventStream | null,
  jobId: string,
  options: StreamOptions = DEFAULT_STREAM,
  hooks: StreamHooks = {},
  signal?: AbortSignal,
): Promise<JobView> {
  return new Promise<JobView>((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError());
      return;
    }
    const stream = open(jobId);
    if (!stream) {
      reject(new StreamUnavailable("this browser has no EventSource"));
      return;
    }
    const setTimer = hooks.setTimer ?? browserTimer;
    let lastStatus: JobStatus = "queued";
    let settled = false;

    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      stream.close();
      cancelDeadline();
      cancelSilence();
      signal?.removeEventListener("abort", onAbort);
      outcome();
    };
    const onAbort = () => settle(() => reject(abortError()));
    const cancelDeadline = setTimer(
      () => settle(() => reject(new DeadlineExceeded(jobId, lastStatus, options.deadlineMs))),
      options.deadlineMs,
    );
    let cancelSilence = setTimer(
      () => settle(() => reject(new StreamUnavailable("no event arrived"))),
      options.firstEventMs,
    );

    for (const status of JOB_EVENTS) {
      stream.addEventListener(status, (event) => {
        const view = parseView(event, jobId);
        if (!view) {
          settle(() => reject(new StreamUnavailable(`a ${status} event without a job view`)));
          return;
        }
        cancelSilence();
        cancelSilence = () => {};
        lastStatus = view.status;
        hooks.onStatus?.(view);
        if (view.status === "done" || view.status === "failed") settle(() => resolve(view));
      });
    }
    // Before a final event an error is a failed connection, a 404 (no such endpoint or job),
    // or a dropped stream; EventSource would retry on its own, polling is surer.
    stream.addEventListener("error", () =>
      settle(() => reject(new StreamUnavailable("the stream failed"))),
    );
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
