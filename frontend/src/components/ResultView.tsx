import type { ItemResult } from "../api";
import { formatSeconds } from "../format";
import { ProbabilityBars } from "./ProbabilityBars";

interface Props {
  item: ItemResult;
  modelVersion: string;
  elapsedMs: number;
  cached: boolean;
}

export function ResultView({ item, modelVersion, elapsedMs, cached }: Props) {
  return (
    <section className="result" aria-labelledby="result-heading">
      <h3 id="result-heading">
        Predicted species: <span className="species">{item.prediction}</span>{" "}
        <span className={cached ? "badge badge-cached" : "badge"}>
          {cached ? "cached" : "computed"}
        </span>
      </h3>
      <ProbabilityBars probabilities={item.probabilities} predicted={item.prediction} />
      <dl className="facts">
        <dt>Model version</dt>
        <dd>
          <code>{modelVersion}</code>
        </dd>
        <dt>Time taken</dt>
        <dd>{formatSeconds(elapsedMs)}</dd>
        <dt>Source</dt>
        <dd>{cached ? "cache (answered at once, no job)" : "model (a worker ran the job)"}</dd>
      </dl>
    </section>
  );
}
