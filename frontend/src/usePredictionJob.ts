// Submits items, follows the job, and keeps the JobState the components show.
import { useCallback, useEffect, useReducer, useRef } from "react";
import {
  ApiError,
  UnavailableError,
  ValidationError,
  type ApiClient,
  type Measurements,
  type PredictionResponse,
} from "./api";
import { IDLE, jobReducer, type Failure, type JobState } from "./jobState";
import { DEFAULT_POLL, DeadlineExceeded, pollJob, type PollOptions } from "./polling";

export interface Settled {
  items: Measurements[];
  response: PredictionResponse;
  elapsedMs: number;
  cached: boolean;
}

export interface JobOptions {
  poll?: PollOptions;
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
    (items: Measurements[], response: PredictionResponse) => {
      const at = now();
      dispatch({ type: "done", response, at });
      const cached = response.items.length > 0 && response.items.every((i) => i.cached);
      opts.current.onDone?.({ items, response, elapsedMs: at - startedAt.current, cached });
    },
    [now],
  );

  const follow = useCallback(
    async (jobId: string, items: Measurements[], controller: AbortController) => {
      const { signal } = controller;
      try {
        const view = await pollJob(
          api.getJob,
          jobId,
          opts.current.poll ?? DEFAULT_POLL,
          {
            now,
            onStatus: (v) => {
              if (!signal.aborted) dispatch({ type: "status", jobId, status: v.status });
            },
            onUnreachable: () => {
              if (!signal.aborted) dispatch({ type: "unreachable", jobId });
            },
          },
          signal,
        );
        if (signal.aborted) return;
        if (view.status === "failed") {
          const detail = view.error ?? "the job failed on the worker";
          dispatch({ type: "failed", failure: { kind: "job", detail, jobId } });
          return;
        }
        finish(items, {
          model_version: view.model_version ?? "unknown",
          job_id: view.job_id,
          items: view.items ?? [],
        });
      } catch (error) {
        if (signal.aborted || isAbort(error)) return;
        if (error instanceof DeadlineExceeded) {
          dispatch({ type: "overdue", jobId, lastStatus: error.lastStatus });
          return;
        }
        dispatch({ type: "failed", failure: toFailure(error) });
      }
    },
    [api, finish, now],
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
