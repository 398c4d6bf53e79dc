import { useEffect, useState } from "react";
import type { ApiClient, ServedModel } from "../api";
import { formatPercent } from "../format";

type Load =
  | { phase: "loading" }
  | { phase: "loaded"; model: ServedModel }
  | { phase: "failed"; detail: string };

interface Props {
  api: ApiClient;
  /** The version the last answer came from: a change (or a first answer) reloads the info. */
  seenVersion?: string;
  retryMs?: number;
}

// Workers announce the model a moment after they start: a page opened at the same time
// would otherwise keep "unknown". Bounded, so a stack without workers is not polled forever.
const AUTO_RETRIES = 6;

/** The served model's version and accuracy (GET /model), and during a rollout the canary and
 * any other version still answering. */
export function ModelInfo({ api, seenVersion, retryMs = 5000 }: Props) {
  const [load, setLoad] = useState<Load>({ phase: "loading" });
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    const controller = new AbortController();
    api.getModel(controller.signal).then(
      (model) => setLoad({ phase: "loaded", model }),
      (error: unknown) => {
        if (controller.signal.aborted) return;
        const detail = error instanceof Error ? error.message : String(error);
        setLoad({ phase: "failed", detail });
      },
    );
    return () => controller.abort();
  }, [api, attempt, seenVersion]);

  useEffect(() => {
    if (load.phase !== "failed" || attempt >= AUTO_RETRIES) return;
    const timer = setTimeout(() => setAttempt((n) => n + 1), retryMs);
    return () => clearTimeout(timer);
  }, [load, attempt, retryMs]);

  switch (load.phase) {
    case "loading":
      return <p className="model-info">Model: loading…</p>;
    case "failed":
      return (
        <p className="model-info">
          Model: unknown ({load.detail}){" "}
          <button type="button" className="link" onClick={() => setAttempt((n) => n + 1)}>
            Reload model info
          </button>
        </p>
      );
    case "loaded": {
      const { model } = load;
      const others = (model.answering ?? []).filter(
        (version) => version !== model.version && version !== model.canary?.version,
      );
      return (
        <p className="model-info">
          Model <code>{model.version}</code> ({model.name}, {formatPercent(model.holdout_accuracy)}{" "}
          hold-out accuracy, classes {model.classes.join(", ")})
          {model.canary && (
            <>
              {"; "}canary <code>{model.canary.version}</code> computes {model.canary.percent}% of
              new predictions
            </>
          )}
          {others.length > 0 && (
            <>
              {"; "}still answering while workers switch:{" "}
              {others.map((version) => (
                <code key={version}>{version} </code>
              ))}
            </>
          )}
        </p>
      );
    }
  }
}
