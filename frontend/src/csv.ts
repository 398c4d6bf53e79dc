// Batch input and output: CSV rows of the four measurements, header optional.
import { FEATURES, type Feature, type ItemResult, type Measurements } from "./api";
import { checkMeasurement } from "./measurements";

// The gateway's MAX_ITEMS default: one request carries the whole batch.
export const MAX_ROWS = 1000;

export interface CsvRow {
  /** 1-based line number in the pasted text or file. */
  line: number;
  item: Measurements;
}

export interface CsvProblem {
  line: number;
  message: string;
}

export interface ParsedCsv {
  rows: CsvRow[];
  errors: CsvProblem[];
  hasHeader: boolean;
}

/** Splits one line into fields; double quotes may wrap a field and "" escapes a quote. */
export function splitCsvLine(line: string, delimiter: string): string[] {
  const fields: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') {
        quoted = false;
      } else {
        field += ch;
      }
    } else if (ch === '"' && field.trim() === "") {
      quoted = true;
      field = "";
    } else if (ch === delimiter) {
      fields.push(field.trim());
      field = "";
    } else {
      field += ch;
    }
  }
  fields.push(field.trim());
  return fields;
}

function detectDelimiter(line: string): string {
  for (const candidate of [",", ";", "\t"]) if (line.includes(candidate)) return candidate;
  return ",";
}

/** "Sepal length (cm)", "sepal.length", "SepalLengthCm" -> "sepal_length". */
export function headerFeature(cell: string): Feature | null {
  const letters = cell
    .toLowerCase()
    .replace(/\(.*?\)/g, "")
    .replace(/[^a-z]/g, "")
    .replace(/cm$/, "");
  return FEATURES.find((f) => f.replace("_", "") === letters) ?? null;
}

function looksNumeric(cell: string): boolean {
  return cell !== "" && !Number.isNaN(Number(cell));
}

export function parseCsv(text: string): ParsedCsv {
  const lines = text.split(/\r\n|\n|\r/);
  const rows: CsvRow[] = [];
  const errors: CsvProblem[] = [];
  let columns: number[] | null = null; // position of each feature, in FEATURES order
  let delimiter: string | null = null;
  let hasHeader = false;

  for (const [index, raw] of lines.entries()) {
    const line = index + 1;
    const content = index === 0 ? raw.replace(/^\uFEFF/, "") : raw;
    if (content.trim() === "" || content.trimStart().startsWith("#")) continue;
    delimiter ??= detectDelimiter(content);
    const cells = splitCsvLine(content, delimiter);

    if (columns === null) {
      if (!cells.slice(0, FEATURES.length).every(looksNumeric) && rows.length === 0) {
        hasHeader = true;
        const found = cells.map(headerFeature);
        const missing = FEATURES.filter((f) => !found.includes(f));
        if (missing.length > 0) {
          // Rows read through a wrong header would be misread: report the header alone.
          const message = `header does not name ${missing.join(", ")} (expected ${FEATURES.join(", ")})`;
          return { rows: [], errors: [{ line, message }], hasHeader };
        }
        columns = FEATURES.map((f) => found.indexOf(f));
        continue;
      }
      columns = [0, 1, 2, 3];
    }

    if (!hasHeader && cells.length !== FEATURES.length) {
      errors.push({ line, message: `expected 4 values, found ${cells.length}` });
      continue;
    }
    const item: Partial<Measurements> = {};
    const problems: string[] = [];
    const positions = columns;
    FEATURES.forEach((feature, i) => {
      const cell = cells[positions[i]!];
      if (cell === undefined) {
        problems.push(`${feature}: missing`);
        return;
      }
      const check = checkMeasurement(cell);
      if (check.ok) item[feature] = check.value;
      else problems.push(`${feature}: ${check.message}`);
    });
    if (problems.length > 0) errors.push({ line, message: problems.join("; ") });
    else rows.push({ line, item: item as Measurements });
  }

  if (rows.length + errors.length === 0) {
    errors.push({ line: 1, message: "no rows: paste or upload at least one row of 4 values" });
  } else if (rows.length > MAX_ROWS) {
    errors.push({
      line: rows[MAX_ROWS]!.line,
      message: `too many rows: ${rows.length} (at most ${MAX_ROWS} in one batch)`,
    });
  }
  return { rows, errors, hasHeader };
}

function csvField(value: string | number | boolean): string {
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One line per item: its measurements, the prediction, each class's probability, cached. */
export function resultsToCsv(items: Measurements[], results: ItemResult[]): string {
  const classes = Object.keys(results[0]?.probabilities ?? {});
  const header = [...FEATURES, "prediction", ...classes.map((c) => `p_${c}`), "cached"];
  const lines = [header.map(csvField).join(",")];
  results.forEach((result, i) => {
    const item = items[i];
    if (!item) return;
    const cells = [
      ...FEATURES.map((f) => item[f]),
      result.prediction,
      ...classes.map((c) => result.probabilities[c] ?? 0),
      result.cached,
    ];
    lines.push(cells.map(csvField).join(","));
  });
  return `${lines.join("\r\n")}\r\n`;
}
