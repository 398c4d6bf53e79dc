// Following a job: GET /jobs/{id} with exponential backoff until it finishes or a deadline.
import { UnavailableError, type JobStatus, type JobView } from "./api";

export interface PollOptions {
  /** First wait before asking; a cheap job is often done by then. */
  initialDelayMs: number;
  maxDelayMs: number;
  factor: number;
  /** After this long without a finished job, give up and say so (the job may still finish). */
  deadlineMs: number;
}

export const DEFAULT_POLL: PollOptions = {
  initialDelayMs: 150,
  maxDelayMs: 2000,
  factor: 1.6,
  deadlineMs: 60_000,
};

export interface PollHooks {
  onStatus?: (view: JobView) => void;
  /** The gateway could not be asked this time; polling goes on until the deadline. */
  onUnreachable?: (error: UnavailableError) => void;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  now?: () => number;
}

export class DeadlineExceeded extends Error {
  readonly jobId: string;
  readonly lastStatus: JobStatus;

  constructor(jobId: string, lastStatus: JobStatus, deadlineMs: number) {
    super(`job ${jobId} still ${lastStatus} after ${Math.round(deadlineMs / 1000)} s`);
    this.name = "DeadlineExceeded";
    this.jobId = jobId;
    this.lastStatus = lastStatus;
  }
}

export function abortError(): DOMException {
  return new DOMException("aborted", "AbortError");
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError());
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError());
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** The waits between polls: initial, initial*factor, ... capped at maxDelayMs. */
export function backoffDelays(options: PollOptions, count: number): number[] {
  const delays: number[] = [];
  let delay = options.initialDelayMs;
  for (let i = 0; i < count; i++) {
    delays.push(delay);
    delay = Math.min(delay * options.factor, options.maxDelayMs);
  }
  return delays;
}

/** Resolves with the job once done or failed; rejects with DeadlineExceeded or on abort. */
export async function pollJob(
  getJob: (jobId: string, signal?: AbortSignal) => Promise<JobView>,
  jobId: string,
  options: PollOptions = DEFAULT_POLL,
  hooks: PollHooks = {},
  signal?: AbortSignal,
): Promise<JobView> {
  const wait = hooks.sleep ?? sleep;
  const now = hooks.now ?? (() => performance.now());
  const deadline = now() + options.deadlineMs;
  let delay = options.initialDelayMs;
  let lastStatus: JobStatus = "queued";

  for (;;) {
    // Never sleep past the deadline: the last look happens right at it.
    await wait(Math.max(0, Math.min(delay, deadline - now())), signal);
    try {
      const view = await getJob(jobId, signal);
      lastStatus = view.status;
      hooks.onStatus?.(view);
      if (view.status === "done" || view.status === "failed") return view;
    } catch (error) {
      if (!(error instanceof UnavailableError)) throw error;
      hooks.onUnreachable?.(error);
    }
    if (now() >= deadline) throw new DeadlineExceeded(jobId, lastStatus, options.deadlineMs);
    delay = Math.min(delay * options.factor, options.maxDelayMs);
  }
}
