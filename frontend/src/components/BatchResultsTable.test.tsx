import { render, screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { CsvRow } from "../csv";
import { SETOSA, VIRGINICA } from "../test/fixtures";
import { BatchResultsTable } from "./BatchResultsTable";

const ROWS: CsvRow[] = [
  { line: 2, item: { sepal_length: 5.1, sepal_width: 3.5, petal_length: 1.4, petal_width: 0.2 } },
  { line: 4, item: { sepal_length: 7.7, sepal_width: 3, petal_length: 6.1, petal_width: 2.3 } },
];

/** A row's text, header cells first (each row here has them first). */
function cells(row: HTMLElement): string[] {
  const { queryAllByRole } = within(row);
  return [
    ...queryAllByRole("columnheader"),
    ...queryAllByRole("rowheader"),
    ...queryAllByRole("cell"),
  ].map((cell) => cell.textContent ?? "");
}

describe("BatchResultsTable", () => {
  it("shows each row's line, measurements and answer, under named columns", () => {
    render(<BatchResultsTable rows={ROWS} results={[SETOSA, { ...VIRGINICA, cached: true }]} />);
    const table = screen.getByRole("table", { name: "Batch results" });
    const [header, ...rows] = within(table).getAllByRole("row");
    expect(cells(header!)).toEqual([
      "Line",
      "sepal length (cm)",
      "sepal width (cm)",
      "petal length (cm)",
      "petal width (cm)",
      "Prediction",
      "Probability",
      "Cached",
    ]);
    expect(rows.map(cells)).toEqual([
      ["2", "5.1", "3.5", "1.4", "0.2", "setosa", "97.0%", "no"],
      ["4", "7.7", "3", "6.1", "2.3", "virginica", "90.0%", "yes"],
    ]);
  });

  it("is a focusable region, so a keyboard can scroll a wide table", () => {
    render(<BatchResultsTable rows={ROWS} results={[SETOSA]} />);
    const scroller = screen.getByLabelText("Batch results table");
    expect(scroller).toHaveAttribute("tabindex", "0");
    expect(within(scroller).getAllByRole("row")).toHaveLength(2);
  });
});
