import type { ItemResult, Measurements } from "../api";
import type { Timing } from "../timing";
import { IrisScatter } from "./IrisScatter";
import { ProbabilityBars } from "./ProbabilityBars";
import { TimeTaken } from "./TimeTaken";

interface Props {
  item: ItemResult;
  /** The flower's measurements, for the chart beside the answer. */
  flower?: Measurements;
  modelVersion: string;
  jobId?: string | null;
  timing: Timing;
  cached: boolean;
}

export function ResultView({ item, flower, modelVersion, jobId, timing, cached }: Props) {
  return (
    <section className="result" aria-labelledby="result-heading">
      <h3 id="result-heading">
        Predicted species: <span className="species">{item.prediction}</span>{" "}
        <span className={cached ? "badge badge-cached" : "badge"}>
          {cached ? "cached" : "computed"}
        </span>
      </h3>
      <div className="result-body">
        <div>
          <ProbabilityBars probabilities={item.probabilities} predicted={item.prediction} />
          <dl className="facts">
            <dt>Model version</dt>
            <dd>
              <code>{modelVersion}</code>
            </dd>
            {jobId && (
              <>
                <dt>Job id</dt>
                <dd className="job-id">{jobId}</dd>
              </>
            )}
            <dt>Time taken</dt>
            <dd>
              <TimeTaken timing={timing} cached={cached} />
            </dd>
            <dt>Source</dt>
            <dd>{cached ? "cache (answered at once, no job)" : "model (a worker ran the job)"}</dd>
          </dl>
        </div>
        {flower && (
          <IrisScatter petalLength={flower.petal_length} petalWidth={flower.petal_width} />
        )}
      </div>
    </section>
  );
}
