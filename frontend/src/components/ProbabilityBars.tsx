import { formatPercent } from "../format";

interface Props {
  probabilities: Record<string, number>;
  predicted: string;
}

/** One labelled meter per class, with its percentage as text too. */
export function ProbabilityBars({ probabilities, predicted }: Props) {
  return (
    <ul className="bars" aria-label="Class probabilities">
      {Object.entries(probabilities).map(([species, p]) => {
        const labelId = `bar-${species}`;
        return (
          <li key={species} className={species === predicted ? "bar predicted" : "bar"}>
            <span id={labelId} className="bar-label">
              {species}
            </span>
            <div
              role="meter"
              aria-labelledby={labelId}
              aria-valuemin={0}
              aria-valuemax={1}
              aria-valuenow={p}
              aria-valuetext={formatPercent(p)}
              className="bar-track"
            >
              <div className="bar-fill" style={{ width: `${Math.round(p * 1000) / 10}%` }} />
            </div>
            <span className="bar-value">{formatPercent(p)}</span>
          </li>
        );
      })}
    </ul>
  );
}
