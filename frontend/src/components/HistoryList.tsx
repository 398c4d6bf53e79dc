import { answerSource } from "../answerSource";
import { describeItem } from "../measurements";
import { formatClock, formatDuration, formatPercent } from "../format";
import type { Settled } from "../usePredictionJob";

export interface HistoryEntry extends Settled {
  id: number;
  at: Date;
}

function summary(entry: HistoryEntry): string {
  const first = entry.response.items[0];
  const item = entry.items[0];
  if (entry.items.length === 1 && first && item) {
    const p = first.probabilities[first.prediction] ?? 0;
    return `${describeItem(item)} cm → ${first.prediction} (${formatPercent(p)})`;
  }
  const counts = new Map<string, number>();
  for (const result of entry.response.items) {
    counts.set(result.prediction, (counts.get(result.prediction) ?? 0) + 1);
  }
  const parts = [...counts].map(([species, n]) => `${n} ${species}`);
  return `Batch of ${entry.items.length} → ${parts.join(", ")}`;
}

/** The predictions made since the page was opened, newest first. */
export function HistoryList({ entries }: { entries: HistoryEntry[] }) {
  if (entries.length === 0) {
    return <p className="hint">No predictions yet.</p>;
  }
  return (
    <ol className="history" reversed>
      {entries.map((entry) => (
        <li key={entry.id}>
          <time dateTime={entry.at.toISOString()}>{formatClock(entry.at)}</time>{" "}
          <span>{summary(entry)}</span>{" "}
          <span className={entry.cached ? "badge badge-cached" : "badge"}>
            {answerSource(entry.response.items)}
          </span>{" "}
          <span className="muted">
            {formatDuration(entry.timing.totalMs)}, model {entry.response.model_version}
          </span>
        </li>
      ))}
    </ol>
  );
}
