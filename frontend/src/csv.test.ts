import { describe, expect, it } from "vitest";
import { MAX_ROWS, headerFeature, parseCsv, resultsToCsv, splitCsvLine } from "./csv";
import { SETOSA, VIRGINICA } from "./test/fixtures";

const ROW = { sepal_length: 5.1, sepal_width: 3.5, petal_length: 1.4, petal_width: 0.2 };

describe("parseCsv", () => {
  it("reads rows without a header, keeping their line numbers", () => {
    const parsed = parseCsv("5.1,3.5,1.4,0.2\n\n6.7, 3.0, 5.2, 2.3\n");
    expect(parsed.errors).toEqual([]);
    expect(parsed.hasHeader).toBe(false);
    expect(parsed.rows).toEqual([
      { line: 1, item: ROW },
      { line: 3, item: { sepal_length: 6.7, sepal_width: 3, petal_length: 5.2, petal_width: 2.3 } },
    ]);
  });

  it("matches header columns by name, in any order, ignoring extra columns", () => {
    const text = [
      "Id,Petal.Width,species,Sepal Length (cm),SepalWidthCm,petal_length",
      "1,0.2,setosa,5.1,3.5,1.4",
    ].join("\r\n");
    const parsed = parseCsv(text);
    expect(parsed.errors).toEqual([]);
    expect(parsed.hasHeader).toBe(true);
    expect(parsed.rows).toEqual([{ line: 2, item: ROW }]);
  });

  it("accepts semicolons, tabs, quotes, a BOM and comment lines", () => {
    expect(parseCsv('\uFEFF# measured today\n"5.1";3.5;1.4;0.2').rows).toEqual([
      { line: 2, item: ROW },
    ]);
    expect(parseCsv("5.1\t3.5\t1.4\t0.2").rows).toEqual([{ line: 1, item: ROW }]);
  });

  it("reports each bad row by its line and field", () => {
    const parsed = parseCsv(
      [
        "sepal_length,sepal_width,petal_length,petal_width",
        "5.1,3.5,1.4,0.2",
        "5.1,3.5,-1,0.2",
        "5.1,x,1.4,",
        "5.1,3.5",
      ].join("\n"),
    );
    expect(parsed.rows).toHaveLength(1);
    expect(parsed.errors).toEqual([
      { line: 3, message: "petal_length: Must be greater than 0 cm." },
      {
        line: 4,
        message: "sepal_width: Enter a number, like 5.1.; petal_width: Enter a value in cm.",
      },
      { line: 5, message: "petal_length: missing; petal_width: missing" },
    ]);
  });

  it("without a header, wants exactly four values a row", () => {
    expect(parseCsv("5.1,3.5,1.4,0.2,setosa\n5.1,3.5,1.4").errors).toEqual([
      { line: 1, message: "expected 4 values, found 5" },
      { line: 2, message: "expected 4 values, found 3" },
    ]);
  });

  it("rejects a header that does not name the four measurements", () => {
    expect(parseCsv("a,b,c,d\n5.1,3.5,1.4,0.2")).toEqual({
      rows: [],
      hasHeader: true,
      errors: [
        {
          line: 1,
          message:
            "header does not name sepal_length, sepal_width, petal_length, petal_width " +
            "(expected sepal_length, sepal_width, petal_length, petal_width)",
        },
      ],
    });
  });

  it("says so when there are no rows", () => {
    expect(parseCsv("\n  \n").errors).toEqual([
      { line: 1, message: "no rows: paste or upload at least one row of 4 values" },
    ]);
  });

  it("refuses more rows than one request may carry", () => {
    const text = Array.from({ length: MAX_ROWS + 1 }, () => "5.1,3.5,1.4,0.2").join("\n");
    expect(parseCsv(text).errors).toEqual([
      {
        line: MAX_ROWS + 1,
        message: `too many rows: ${MAX_ROWS + 1} (at most ${MAX_ROWS} in one batch)`,
      },
    ]);
  });
});

describe("CSV helpers", () => {
  it("splits quoted fields", () => {
    expect(splitCsvLine('"a,b", "say ""hi""" ,3', ",")).toEqual(["a,b", 'say "hi"', "3"]);
  });

  it.each([
    ["sepal_length", "sepal_length"],
    ["Sepal.Length", "sepal_length"],
    ["petal width (cm)", "petal_width"],
    ["PetalLengthCm", "petal_length"],
    ["species", null],
  ])("reads header %j as %j", (cell, feature) => {
    expect(headerFeature(cell)).toBe(feature);
  });
});

describe("resultsToCsv", () => {
  it("writes a header, then each item with its prediction and probabilities", () => {
    const other = { sepal_length: 7.7, sepal_width: 3, petal_length: 6.1, petal_width: 2.3 };
    const csv = resultsToCsv([ROW, other], [{ ...SETOSA, cached: true }, VIRGINICA]);
    expect(csv).toBe(
      [
        "sepal_length,sepal_width,petal_length,petal_width,prediction,p_setosa,p_versicolor,p_virginica,cached",
        "5.1,3.5,1.4,0.2,setosa,0.97,0.03,0,true",
        "7.7,3,6.1,2.3,virginica,0,0.1,0.9,false",
        "",
      ].join("\r\n"),
    );
  });

  it("round-trips through parseCsv", () => {
    const csv = resultsToCsv([ROW], [SETOSA]);
    expect(parseCsv(csv).rows).toEqual([{ line: 2, item: ROW }]);
  });
});
