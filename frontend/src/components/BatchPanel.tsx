import { useId, useMemo, useState, type ChangeEvent, type FormEvent } from "react";
import { parseFieldPath, type ApiClient } from "../api";
import { MAX_ROWS, parseCsv, resultsToCsv, type CsvProblem, type CsvRow } from "../csv";
import type { PollOptions } from "../polling";
import { usePredictionJob, type Settled } from "../usePredictionJob";
import { BatchResultsTable } from "./BatchResultsTable";
import { JobStatusView } from "./JobStatusView";
import { TimeTaken } from "./TimeTaken";

interface Props {
  api: ApiClient;
  now: () => number;
  poll?: PollOptions;
  onDone: (settled: Settled) => void;
}

const EXAMPLE_CSV = [
  "sepal_length,sepal_width,petal_length,petal_width",
  "5.1,3.5,1.4,0.2",
  "6.2,2.9,4.3,1.3",
  "7.7,3.0,6.1,2.3",
].join("\n");

function download(text: string, filename: string) {
  const url = URL.createObjectURL(new Blob([text], { type: "text/csv;charset=utf-8" }));
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  // The click has started the download; the URL is no longer needed after this turn.
  setTimeout(() => URL.revokeObjectURL(url), 0);
}

/** Many flowers from CSV rows in one request; the answers as a table and a CSV file. */
export function BatchPanel({ api, now, poll, onDone }: Props) {
  const id = useId();
  const [text, setText] = useState("");
  const [problems, setProblems] = useState<CsvProblem[]>([]);
  const [sent, setSent] = useState<CsvRow[]>([]);
  const job = usePredictionJob(api, { poll, now, onDone });
  const { state } = job;

  // A 422 names items by position; the user knows them by line.
  const serverProblems = useMemo((): CsvProblem[] => {
    if (state.phase !== "failed" || state.failure.kind !== "invalid") return [];
    return state.failure.fieldErrors.map((error) => {
      const path = parseFieldPath(error.field);
      const row = path ? sent[path.index] : undefined;
      const where = path?.feature ? `${path.feature}: ` : "";
      return row
        ? { line: row.line, message: `${where}${error.message}` }
        : { line: 0, message: `${error.field}: ${error.message}` };
    });
  }, [state, sent]);

  const shown = problems.length > 0 ? problems : serverProblems;

  function submit(event: FormEvent) {
    event.preventDefault();
    const parsed = parseCsv(text);
    setProblems(parsed.errors);
    if (parsed.errors.length > 0) {
      // The last batch's table (or error) must not sit below a banner about these rows.
      job.reset();
      return;
    }
    setSent(parsed.rows);
    void job.submit(parsed.rows.map((row) => row.item));
  }

  async function upload(event: ChangeEvent<HTMLInputElement>) {
    const file = event.target.files?.[0];
    if (!file) return;
    setText(await file.text());
    setProblems([]);
  }

  const results = state.phase === "done" ? state.response.items : [];

  return (
    <>
      <form className="batch" onSubmit={submit} noValidate>
        <label htmlFor={`${id}-csv`}>
          CSV rows: sepal length, sepal width, petal length, petal width (cm); header optional
        </label>
        <textarea
          id={`${id}-csv`}
          rows={6}
          value={text}
          placeholder={EXAMPLE_CSV}
          spellCheck={false}
          aria-invalid={shown.length > 0 ? true : undefined}
          aria-describedby={shown.length > 0 ? `${id}-problems` : `${id}-limit`}
          onChange={(e) => setText(e.target.value)}
        />
        <p id={`${id}-limit`} className="hint">
          Up to {MAX_ROWS} rows in one request. Columns are matched by name when there is a header.
        </p>
        <div className="batch-actions">
          <label htmlFor={`${id}-file`} className="file-label">
            Upload a CSV file
          </label>
          <input
            id={`${id}-file`}
            type="file"
            accept=".csv,text/csv,text/plain"
            onChange={upload}
          />
          <button type="button" onClick={() => setText(EXAMPLE_CSV)}>
            Use example rows
          </button>
          <button type="submit" className="primary" disabled={state.phase === "submitting"}>
            Predict batch
          </button>
        </div>
      </form>
      {shown.length > 0 && (
        <div id={`${id}-problems`} role="alert" className="banner banner-error">
          <p>
            <strong>
              Some rows are not valid; nothing was {problems.length > 0 ? "sent" : "predicted"}.
            </strong>
          </p>
          <ul className="problems">
            {shown.map((problem, i) => (
              <li key={i}>
                {problem.line > 0 ? `Line ${problem.line}: ${problem.message}` : problem.message}
              </li>
            ))}
          </ul>
        </div>
      )}
      <JobStatusView
        state={state}
        now={now}
        subject="batch"
        onRetry={() => void job.retry()}
        onCheckAgain={() => void job.checkAgain()}
      />
      {state.phase === "done" && (
        <div className="batch-results">
          <div className="batch-summary">
            <p>
              {results.length} rows, model <code>{state.response.model_version}</code>
              {state.cached ? ", all cached" : ""}. Time taken:{" "}
              <TimeTaken timing={state.timing} cached={state.cached} />.
            </p>
            <button
              type="button"
              onClick={() => download(resultsToCsv(state.items, results), "irisq-predictions.csv")}
            >
              Download results (CSV)
            </button>
          </div>
          <BatchResultsTable rows={sent} results={results} />
        </div>
      )}
    </>
  );
}
