import { isBusy, type Failure, type JobState } from "../jobState";
import { formatSeconds } from "../format";
import { useNow } from "../useNow";
import { ErrorBanner } from "./ErrorBanner";

interface Props {
  state: JobState;
  now: () => number;
  onRetry: () => void;
  onCheckAgain: () => void;
  /** What was sent, for the messages: "flower", "batch". */
  subject: string;
}

const STEPS = ["queued", "running", "done"] as const;

function statusText(state: JobState, subject: string): string {
  switch (state.phase) {
    case "idle":
      return "";
    case "submitting":
      return `Sending the ${subject}…`;
    case "queued":
    case "running":
      return `Job ${state.jobId} is ${state.phase}.`;
    case "done":
      return state.cached ? "Done: answered from the cache." : "Done.";
    case "failed":
      return failureTitle(state.failure);
    case "overdue":
      return `Still running, job id ${state.jobId}.`;
  }
}

function failureTitle(failure: Failure): string {
  switch (failure.kind) {
    case "invalid":
      return "The server rejected some values.";
    case "unavailable":
      return "The service is unavailable.";
    case "job":
      return `Job ${failure.jobId} failed.`;
    case "error":
      return failure.status ? `The request failed (${failure.status}).` : "The request failed.";
  }
}

/** Ends a server's message with exactly one full stop. */
function sentence(text: string): string {
  return /[.!?]$/.test(text) ? text : `${text}.`;
}

function Steps({ state }: { state: JobState }) {
  const current =
    state.phase === "done" ? 2 : state.phase === "running" ? 1 : state.phase === "queued" ? 0 : -1;
  const overdueAt = state.phase === "overdue" ? STEPS.indexOf(state.lastStatus as "queued") : -1;
  const at = current >= 0 ? current : overdueAt;
  return (
    <ol className="steps" aria-label="Job progress">
      {STEPS.map((step, i) => (
        <li
          key={step}
          className={
            i < at || (i === at && state.phase === "done")
              ? "step complete"
              : i === at
                ? "step current"
                : "step"
          }
          aria-current={i === at ? "step" : undefined}
        >
          {step}
        </li>
      ))}
    </ol>
  );
}

function FailureView({ failure, onRetry }: { failure: Failure; onRetry: () => void }) {
  switch (failure.kind) {
    case "unavailable":
      return (
        <ErrorBanner
          title={failureTitle(failure)}
          detail={sentence(failure.detail)}
          onRetry={onRetry}
        />
      );
    case "invalid": {
      return (
        <ErrorBanner
          title={failureTitle(failure)}
          detail={
            failure.fieldErrors.length > 0
              ? failure.fieldErrors.map((e) => `${e.field}: ${e.message}`).join("; ")
              : failure.detail
          }
        />
      );
    }
    case "job":
      return (
        <ErrorBanner title={failureTitle(failure)} detail={failure.detail} onRetry={onRetry} />
      );
    case "error":
      return <ErrorBanner title={failureTitle(failure)} detail={failure.detail} />;
  }
}

/** Counts from `startedAt`; keyed by it, so each new request starts a fresh clock. */
function Elapsed({ startedAt, now }: { startedAt: number; now: () => number }) {
  const time = useNow(now);
  return <p className="elapsed">Elapsed: {formatSeconds(time - startedAt)}</p>;
}

/** The request's progress: a live status line, the job's steps, elapsed time, errors. */
export function JobStatusView({ state, now, onRetry, onCheckAgain, subject }: Props) {
  const busy = isBusy(state);
  const following = state.phase === "queued" || state.phase === "running";
  const showSteps =
    following || state.phase === "overdue" || (state.phase === "done" && !state.cached);

  return (
    <div className="job-status" data-phase={state.phase}>
      <p role="status" aria-live="polite" className="status-line">
        {statusText(state, subject)}
      </p>
      {showSteps && <Steps state={state} />}
      {busy && "startedAt" in state && (
        <Elapsed key={state.startedAt} startedAt={state.startedAt} now={now} />
      )}
      {following && state.unreachable && (
        <p className="note">The gateway is not answering at the moment; still checking.</p>
      )}
      {state.phase === "overdue" && (
        <div className="banner banner-warning">
          <p>
            Still running, job id <code>{state.jobId}</code>: no answer within the time allowed
            (last seen {state.lastStatus}). It may still finish.
          </p>
          <button type="button" onClick={onCheckAgain}>
            Check again
          </button>
        </div>
      )}
      {state.phase === "failed" && <FailureView failure={state.failure} onRetry={onRetry} />}
    </div>
  );
}
