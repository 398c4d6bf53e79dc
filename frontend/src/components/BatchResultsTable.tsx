import { FEATURES, type ItemResult } from "../api";
import type { CsvRow } from "../csv";
import { formatPercent } from "../format";

interface Props {
  /** The rows sent, in order: results[i] answers rows[i]. */
  rows: CsvRow[];
  results: ItemResult[];
}

/** A batch's answers beside its measurements, one row per CSV line. */
export function BatchResultsTable({ rows, results }: Props) {
  return (
    // Focusable so that keyboard users can scroll a table wider than the screen.
    <div className="table-scroll" role="region" tabIndex={0} aria-label="Batch results table">
      <table>
        <caption>Batch results</caption>
        <thead>
          <tr>
            <th scope="col">Line</th>
            {FEATURES.map((f) => (
              <th key={f} scope="col">
                {f.replace("_", " ")} (cm)
              </th>
            ))}
            <th scope="col">Prediction</th>
            <th scope="col">Probability</th>
            <th scope="col">Cached</th>
          </tr>
        </thead>
        <tbody>
          {results.map((result, i) => {
            const row = rows[i];
            return (
              <tr key={i}>
                <th scope="row">{row?.line ?? i + 1}</th>
                {FEATURES.map((f) => (
                  <td key={f}>{row?.item[f]}</td>
                ))}
                <td>{result.prediction}</td>
                <td>{formatPercent(result.probabilities[result.prediction] ?? 0)}</td>
                <td>{result.cached ? "yes" : "no"}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
