import { describe, expect, it } from "vitest";
import { checkMeasurement, PRESETS, toFormValues, validateForm } from "./measurements";

describe("checkMeasurement mirrors the server's rule: finite, > 0, <= 100", () => {
  it.each([
    ["5.1", 5.1],
    [" 0.2 ", 0.2],
    ["100", 100],
    ["1e1", 10],
    [".5", 0.5],
    ["0.0001", 0.0001],
  ])("accepts %j", (raw, value) => {
    expect(checkMeasurement(raw)).toEqual({ ok: true, value });
  });

  it.each([
    ["", "Enter a value in cm."],
    ["   ", "Enter a value in cm."],
    ["abc", "Enter a number, like 5.1."],
    ["5,1", "Enter a number, like 5.1."],
    ["0x10", "Enter a number, like 5.1."],
    ["NaN", "Enter a number, like 5.1."],
    ["Infinity", "Enter a number, like 5.1."],
    ["1e400", "Enter a finite number."],
    ["0", "Must be greater than 0 cm."],
    ["-1", "Must be greater than 0 cm."],
    ["100.01", "Must be at most 100 cm."],
  ])("rejects %j", (raw, message) => {
    expect(checkMeasurement(raw)).toEqual({ ok: false, message });
  });
});

describe("validateForm", () => {
  it("names every bad field and builds no item", () => {
    const result = validateForm({
      sepal_length: "5",
      sepal_width: "",
      petal_length: "200",
      petal_width: "0.2",
    });
    expect(result).toEqual({
      ok: false,
      errors: { sepal_width: "Enter a value in cm.", petal_length: "Must be at most 100 cm." },
    });
  });

  it("turns a valid form into numbers", () => {
    expect(
      validateForm({
        sepal_length: "5",
        sepal_width: "3.4",
        petal_length: "1.5",
        petal_width: "0.2",
      }),
    ).toEqual({
      ok: true,
      item: { sepal_length: 5, sepal_width: 3.4, petal_length: 1.5, petal_width: 0.2 },
    });
  });

  it("accepts every preset", () => {
    for (const preset of PRESETS) {
      expect(validateForm(toFormValues(preset.values))).toEqual({ ok: true, item: preset.values });
    }
    expect(PRESETS.map((p) => p.species)).toEqual(["setosa", "versicolor", "virginica"]);
  });
});
