import { describe, expect, it } from "vitest";
import {
  IRIS,
  IRIS_SPECIES,
  describeFlower,
  parseIrisCsv,
  placeFlower,
  summarise,
} from "./irisData";
import { PRESETS } from "./measurements";

describe("the iris data set shipped with the page", () => {
  it("has Fisher's 150 flowers, 50 of each species", () => {
    expect(IRIS).toHaveLength(150);
    expect(IRIS_SPECIES).toEqual(["setosa", "versicolor", "virginica"]);
    expect(summarise(IRIS).map((s) => [s.species, s.count])).toEqual([
      ["setosa", 50],
      ["versicolor", 50],
      ["virginica", 50],
    ]);
    expect(IRIS[0]).toEqual({ petalLength: 1.4, petalWidth: 0.2, species: "setosa" });
    expect(IRIS.every((f) => f.petalLength > 0 && f.petalWidth > 0)).toBe(true);
  });

  it("reads columns by name and skips comments", () => {
    const text = "# a comment\nspecies,petal_width,petal_length\nvirginica,2.1,5.5\n\n";
    expect(parseIrisCsv(text)).toEqual([
      { petalLength: 5.5, petalWidth: 2.1, species: "virginica" },
    ]);
    expect(() => parseIrisCsv("a,b\n1,2")).toThrow("no petal_length column");
  });
});

describe("where a flower lies", () => {
  it("puts each preset's typical flower among its own species", () => {
    for (const preset of PRESETS) {
      const { petal_length, petal_width } = preset.values;
      expect(placeFlower(petal_length, petal_width)).toEqual({
        kind: "among",
        species: preset.species,
      });
    }
  });

  it("finds where versicolor and virginica overlap", () => {
    expect(placeFlower(4.9, 1.6)).toMatchObject({ kind: "between" });
    const place = placeFlower(4.9, 1.6);
    expect(place.kind === "between" && [...place.species].sort()).toEqual([
      "versicolor",
      "virginica",
    ]);
  });

  it("says when a flower is outside every cluster, and how far", () => {
    expect(placeFlower(3, 2.4)).toMatchObject({ kind: "outside", nearest: "versicolor" });
    expect(describeFlower(50, 50)).toMatch(/^petal 50\.0 cm × 50\.0 cm, outside every cluster, /);
  });

  it("describes it in words for the chart's text alternative", () => {
    expect(describeFlower(1.4, 0.2)).toBe("petal 1.4 cm × 0.2 cm, among the setosa cluster");
  });
});
