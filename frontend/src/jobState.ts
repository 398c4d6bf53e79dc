// The state of one prediction request, from the click to its answer, as the user sees it.
import type { FieldError, JobStatus, Measurements, PredictionResponse } from "./api";
import { roundTrip, type Timing } from "./timing";

export type Failure =
  /** 422: the server named the bad fields. */
  | { kind: "invalid"; detail: string; fieldErrors: FieldError[] }
  /** 503 or no answer: worth a retry. */
  | { kind: "unavailable"; detail: string }
  /** The job ran and failed on the worker. */
  | { kind: "job"; detail: string; jobId: string }
  /** Anything else the server refused (413, 404 for an expired job, 500...). */
  | { kind: "error"; status: number | null; detail: string };

interface Active {
  startedAt: number;
  count: number;
}

interface Following extends Active {
  jobId: string;
  /** The last poll could not reach the gateway; polling goes on. */
  unreachable: boolean;
}

export type JobState =
  | { phase: "idle" }
  | ({ phase: "submitting" } & Active)
  | ({ phase: "queued" } & Following)
  | ({ phase: "running" } & Following)
  | {
      phase: "done";
      /** What was sent: items[i] is answered by response.items[i]. */
      items: Measurements[];
      response: PredictionResponse;
      timing: Timing;
      /** Every item came from the cache: the answer needed no job. */
      cached: boolean;
    }
  | { phase: "failed"; failure: Failure }
  /** The polling deadline passed while the job was still queued or running. */
  | ({ phase: "overdue"; lastStatus: JobStatus } & Following);

export type JobAction =
  | { type: "submit"; startedAt: number; count: number }
  | { type: "status"; jobId: string; status: JobStatus }
  | { type: "unreachable"; jobId: string }
  /** `timing` from the job's record when there is one; else the round trip ends `at`. */
  | {
      type: "done";
      items: Measurements[];
      response: PredictionResponse;
      at: number;
      timing?: Timing | null;
    }
  | { type: "failed"; failure: Failure }
  | { type: "overdue"; jobId: string; lastStatus: JobStatus }
  | { type: "resume"; jobId: string }
  | { type: "reset" };

export const IDLE: JobState = { phase: "idle" };

function active(state: JobState): Active | null {
  return "startedAt" in state ? { startedAt: state.startedAt, count: state.count } : null;
}

export function isBusy(state: JobState): boolean {
  return state.phase === "submitting" || state.phase === "queued" || state.phase === "running";
}

export function jobReducer(state: JobState, action: JobAction): JobState {
  switch (action.type) {
    case "submit":
      return { phase: "submitting", startedAt: action.startedAt, count: action.count };
    case "status": {
      const base = active(state);
      if (!base) return state;
      if ("jobId" in state && state.jobId !== action.jobId) return state;
      if (action.status !== "queued" && action.status !== "running") return state;
      return { phase: action.status, ...base, jobId: action.jobId, unreachable: false };
    }
    case "unreachable":
      if ((state.phase === "queued" || state.phase === "running") && state.jobId === action.jobId) {
        return { ...state, unreachable: true };
      }
      return state;
    case "done": {
      const base = active(state);
      const results = action.response.items;
      return {
        phase: "done",
        items: action.items,
        response: action.response,
        timing: action.timing ?? roundTrip(base ? base.startedAt : action.at, action.at),
        cached: results.length > 0 && results.every((item) => item.cached),
      };
    }
    case "failed":
      return { phase: "failed", failure: action.failure };
    case "overdue": {
      const base = active(state);
      if (!base) return state;
      return {
        phase: "overdue",
        ...base,
        jobId: action.jobId,
        lastStatus: action.lastStatus,
        unreachable: false,
      };
    }
    case "resume":
      if (state.phase !== "overdue" || state.jobId !== action.jobId) return state;
      return {
        phase: state.lastStatus === "running" ? "running" : "queued",
        startedAt: state.startedAt,
        count: state.count,
        jobId: state.jobId,
        unreachable: false,
      };
    case "reset":
      return IDLE;
  }
}
