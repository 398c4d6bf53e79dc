import { describe, expect, it } from "vitest";
import { formatCm, formatDuration, formatPercent, formatSeconds } from "./format";

describe("formatPercent", () => {
  it.each([
    [0.97, "97.0%"],
    [1, "100.0%"],
    [0, "0.0%"],
    [0.9667, "96.7%"],
    [0.0004, "0.0%"],
    [1 / 3, "33.3%"],
  ])("writes %s as %s: one decimal, no space, always", (fraction, text) => {
    expect(formatPercent(fraction)).toBe(text);
  });
});

describe("durations", () => {
  it("writes a job's short times in whole milliseconds, longer ones in seconds", () => {
    expect(formatDuration(3.4)).toBe("3 ms");
    expect(formatDuration(999.4)).toBe("999 ms");
    expect(formatDuration(1234)).toBe("1.23 s");
    expect(formatDuration(-5)).toBe("0 ms");
  });

  it("writes the elapsed counter in seconds", () => {
    expect(formatSeconds(500)).toBe("0.50 s");
    expect(formatSeconds(12_400)).toBe("12.4 s");
  });
});

describe("formatCm", () => {
  it("keeps what was entered, with one decimal at least", () => {
    expect(formatCm(1.4)).toBe("1.4 cm");
    expect(formatCm(5)).toBe("5.0 cm");
    expect(formatCm(1.45)).toBe("1.45 cm");
  });
});
