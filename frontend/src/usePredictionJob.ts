// Submits items, follows the job, and keeps the JobState the components show.
import { useCallback, useEffect, useReducer, useRef } from "react";
import {
  ApiError,
  UnavailableError,
  ValidationError,
  type ApiClient,
  type JobView,
  type Measurements,
  type PredictionResponse,
} from "./api";
import { DEFAULT_STREAM, StreamUnavailable, streamJob } from "./jobEvents";
import { IDLE, jobReducer, type Failure, type JobState } from "./jobState";
import { DEFAULT_POLL, DeadlineExceeded, pollJob, type PollOptions } from "./polling";
import { jobTiming, roundTrip, type Timing } from "./timing";

export interface Settled {
  items: Measurements[];
  response: PredictionResponse;
  timing: Timing;
  cached: boolean;
}

export interface JobOptions {
  /** Polling, when the job's event stream cannot be used; its deadline bounds the stream too. */
  poll?: PollOptions;
  /** Silence allowed before the stream's first event (a buffering proxy), then polling. */
  firstEventMs?: number;
  now?: () => number;
  /** Called once per answered request (for the history). */
  onDone?: (settled: Settled) => void;
}

export interface PredictionJob {
  state: JobState;
  submit: (items: Measurements[]) => Promise<void>;
  /** Sends the last request again (after a 503 or a network error). */
  retry: () => Promise<void>;
  /** Polls an overdue job again, with a fresh deadline. */
  checkAgain: () => Promise<void>;
  reset: () => void;
}

export function toFailure(error: unknown): Failure {
  if (error instanceof ValidationError) {
    return { kind: "invalid", detail: error.message, fieldErrors: error.fieldErrors };
  }
  if (error instanceof UnavailableError) return { kind: "unavailable", detail: error.message };
  if (error instanceof ApiError) {
    return { kind: "error", status: error.status, detail: error.message };
  }
  return { kind: "error", status: null, detail: error instanceof Error ? error.message : "" };
}

function isAbort(error: unknown): boolean {
  return error instanceof DOMException && error.name === "AbortError";
}

export function usePredictionJob(api: ApiClient, options: JobOptions = {}): PredictionJob {
  const [state, dispatch] = useReducer(jobReducer, IDLE);
  const current = useRef<AbortController | null>(null);
  const lastItems = useRef<Measurements[] | null>(null);
  const startedAt = useRef(0);
  const opts = useRef(options);
  useEffect(() => {
    opts.current = options;
  });

  const now = useCallback(() => (opts.current.now ?? (() => performance.now()))(), []);

  const begin = useCallback((): AbortController => {
    current.current?.abort();
    const controller = new AbortController();
    current.current = controller;
    return controller;
  }, []);

  const finish = useCallback(
    (items: Measurements[], response: PredictionResponse, job: Timing | null = null) => {
      const at = now();
      // Without a job record (cached, or a sync answer) the page's own round trip is shown.
      const timing = job ?? roundTrip(startedAt.current, at);
      dispatch({ type: "done", items, response, at, timing });
      const cached = response.items.length > 0 && response.items.every((i) => i.cached);
      opts.current.onDone?.({ items, response, timing, cached });
    },
    [now],
  );

  /** The job's end by push (its event stream), or by polling when the stream is unavailable. */
  const untilFinished = useCallback(
    async (jobId: string, signal: AbortSignal): Promise<JobView> => {
      const poll = opts.current.poll ?? DEFAULT_POLL;
      const onStatus = (view: JobView) => {
        if (!signal.aborted) dispatch({ type: "status", jobId, status: view.status });
      };
      const deadline = now() + poll.deadlineMs;
      try {
        const stream = {
          deadlineMs: poll.deadlineMs,
          firstEventMs: opts.current.firstEventMs ?? DEFAULT_STREAM.firstEventMs,
        };
        return await streamJob(api.jobEvents, jobId, stream, { onStatus }, signal);
      } catch (error) {
        if (!(error instanceof StreamUnavailable)) throw error;
      }
      const hooks = {
        now,
        onStatus,
        onUnreachable: () => {
          if (!signal.aborted) dispatch({ type: "unreachable", jobId });
        },
      };
      const left = { ...poll, deadlineMs: Math.max(0, deadline - now()) };
      return pollJob(api.getJob, jobId, left, hooks, signal);
    },
    [api, now],
  );

  const follow = useCallback(
    async (jobId: string, items: Measurements[], controller: AbortController) => {
      const { signal } = controller;
      try {
        const view = await untilFinished(jobId, signal);
        if (signal.aborted) return;
        if (view.status === "failed") {
          const detail = view.error ?? "the job failed on the worker";
          dispatch({ type: "failed", failure: { kind: "job", detail, jobId } });
          return;
        }
        const response = {
          model_version: view.model_version ?? "unknown",
          job_id: view.job_id,
          items: view.items ?? [],
        };
        finish(items, response, jobTiming(view));
      } catch (error) {
        if (signal.aborted || isAbort(error)) return;
        if (error instanceof DeadlineExceeded) {
          dispatch({ type: "overdue", jobId, lastStatus: error.lastStatus });
          return;
        }
        dispatch({ type: "failed", failure: toFailure(error) });
      }
    },
    [untilFinished, finish],
  );

  const submit = useCallback(
    async (items: Measurements[]) => {
      const controller = begin();
      lastItems.current = items;
      startedAt.current = now();
      dispatch({ type: "submit", startedAt: startedAt.current, count: items.length });
      try {
        const outcome = await api.predict(items, controller.signal);
        if (controller.signal.aborted) return;
        if (outcome.kind === "done") {
          finish(items, outcome.response);
          return;
        }
        const jobId = outcome.job.job_id;
        dispatch({ type: "status", jobId, status: outcome.job.status });
        await follow(jobId, items, controller);
      } catch (error) {
        if (controller.signal.aborted || isAbort(error)) return;
        dispatch({ type: "failed", failure: toFailure(error) });
      }
    },
    [api, begin, finish, follow, now],
  );

  const retry = useCallback(async () => {
    if (lastItems.current) await submit(lastItems.current);
  }, [submit]);

  const checkAgain = useCallback(async () => {
    if (state.phase !== "overdue" || !lastItems.current) return;
    const controller = begin();
    dispatch({ type: "resume", jobId: state.jobId });
    await follow(state.jobId, lastItems.current, controller);
  }, [begin, follow, state]);

  const reset = useCallback(() => {
    current.current?.abort();
    dispatch({ type: "reset" });
  }, []);

  useEffect(() => () => current.current?.abort(), []);

  return { state, submit, retry, checkAgain, reset };
}
