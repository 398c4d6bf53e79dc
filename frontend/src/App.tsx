import { useCallback, useMemo, useRef, useState } from "react";
import { createApiClient, type ApiClient } from "./api";
import { BatchPanel } from "./components/BatchPanel";
import { HistoryList, type HistoryEntry } from "./components/HistoryList";
import { ModelInfo } from "./components/ModelInfo";
import { SinglePrediction } from "./components/SinglePrediction";
import type { PollOptions } from "./polling";
import type { Settled } from "./usePredictionJob";

interface Props {
  api?: ApiClient;
  poll?: PollOptions;
  now?: () => number;
}

const performanceNow = () => performance.now();

export function App({ api: given, poll, now = performanceNow }: Props) {
  const api = useMemo(() => given ?? createApiClient(), [given]);
  const [history, setHistory] = useState<HistoryEntry[]>([]);
  const nextId = useRef(1);

  const record = useCallback((settled: Settled) => {
    const entry = { ...settled, id: nextId.current++, at: new Date() };
    setHistory((entries) => [entry, ...entries]);
  }, []);

  return (
    <>
      <a className="skip-link" href="#main">
        Skip to the form
      </a>
      <header className="page-header">
        <h1>irisq</h1>
        <p className="tagline">Iris species from four measurements</p>
        <ModelInfo api={api} seenVersion={history[0]?.response.model_version} />
      </header>
      <main id="main" tabIndex={-1}>
        <section className="card" aria-labelledby="single-heading">
          <h2 id="single-heading">One flower</h2>
          <SinglePrediction api={api} now={now} poll={poll} onDone={record} />
        </section>
        <section className="card" aria-labelledby="batch-heading">
          <h2 id="batch-heading">Batch from CSV</h2>
          <BatchPanel api={api} now={now} poll={poll} onDone={record} />
        </section>
        <section className="card" aria-labelledby="history-heading">
          <h2 id="history-heading">History</h2>
          <p className="hint">Predictions made since this page was opened.</p>
          <HistoryList entries={history} />
        </section>
      </main>
    </>
  );
}
