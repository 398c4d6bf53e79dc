import { describe, expect, it } from "vitest";
import { axisFor, tickLabel, ticks } from "./axis";

describe("axisFor", () => {
  it("holds the iris petals in round steps", () => {
    expect(axisFor(6.9)).toEqual({ max: 7, step: 1 });
    expect(axisFor(2.5)).toEqual({ max: 2.5, step: 0.5 });
    expect(ticks(axisFor(2.5)).map((v) => tickLabel(v, axisFor(2.5)))).toEqual([
      "0.0",
      "0.5",
      "1.0",
      "1.5",
      "2.0",
      "2.5",
    ]);
  });

  it("grows to hold a flower far outside the data set", () => {
    expect(axisFor(100)).toEqual({ max: 100, step: 20 });
    expect(ticks(axisFor(100))).toEqual([0, 20, 40, 60, 80, 100]);
    expect(axisFor(7.2)).toEqual({ max: 8, step: 2 });
  });
});
