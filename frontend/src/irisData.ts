// Fisher's iris data set (1936), shipped in the bundle (data/iris.csv names its source), and
// where a measured flower lies among its three species' clusters of petal sizes.
import irisCsv from "./data/iris.csv?raw";
import { formatCm } from "./format";

export interface IrisFlower {
  petalLength: number;
  petalWidth: number;
  species: string;
}

/** The rows of iris.csv: `#` comments, a header, then the four measurements and the species. */
export function parseIrisCsv(text: string): IrisFlower[] {
  const lines = text.split(/\r?\n/).filter((line) => line.trim() !== "" && !line.startsWith("#"));
  const [header, ...rows] = lines;
  const columns = (header ?? "").split(",");
  const at = (name: string) => {
    const index = columns.indexOf(name);
    if (index < 0) throw new Error(`iris.csv has no ${name} column`);
    return index;
  };
  const [length, width, species] = [at("petal_length"), at("petal_width"), at("species")];
  return rows.map((row) => {
    const cells = row.split(",");
    return {
      petalLength: Number(cells[length]),
      petalWidth: Number(cells[width]),
      species: cells[species] ?? "",
    };
  });
}

export const IRIS: readonly IrisFlower[] = parseIrisCsv(irisCsv);
export const IRIS_SPECIES: readonly string[] = [...new Set(IRIS.map((f) => f.species))];

export interface Extent {
  min: number;
  max: number;
}

export interface SpeciesSummary {
  species: string;
  count: number;
  petalLength: Extent;
  petalWidth: Extent;
}

function extent(values: number[]): Extent {
  return { min: Math.min(...values), max: Math.max(...values) };
}

export function summarise(flowers: readonly IrisFlower[]): SpeciesSummary[] {
  const species = [...new Set(flowers.map((f) => f.species))];
  return species.map((name) => {
    const own = flowers.filter((f) => f.species === name);
    return {
      species: name,
      count: own.length,
      petalLength: extent(own.map((f) => f.petalLength)),
      petalWidth: extent(own.map((f) => f.petalWidth)),
    };
  });
}

export type Placement =
  /** Its nearest neighbours are (mostly) of one species, and close. */
  | { kind: "among"; species: string }
  /** Its nearest neighbours are of two species in similar numbers. */
  | { kind: "between"; species: [string, string] }
  /** Farther from every flower than flowers of one species are from each other. */
  | { kind: "outside"; nearest: string; distanceCm: number };

// Neighbours asked; a species needs more than two thirds of them to own the place.
const NEIGHBOURS = 9;
const MAJORITY = 6;
// Within a cluster, a flower's nearest neighbour is at most ~0.3 cm away in petal size.
const NEAR_CM = 0.5;

/** Where a flower of these petal sizes lies among the data set's clusters. */
export function placeFlower(
  petalLength: number,
  petalWidth: number,
  flowers: readonly IrisFlower[] = IRIS,
): Placement {
  const byDistance = flowers
    .map((f) => ({ f, d: Math.hypot(f.petalLength - petalLength, f.petalWidth - petalWidth) }))
    .sort((a, b) => a.d - b.d);
  const nearest = byDistance[0];
  if (!nearest) throw new Error("no flowers to compare with");
  if (nearest.d > NEAR_CM) {
    return { kind: "outside", nearest: nearest.f.species, distanceCm: nearest.d };
  }
  const votes = new Map<string, number>();
  for (const { f } of byDistance.slice(0, NEIGHBOURS)) {
    votes.set(f.species, (votes.get(f.species) ?? 0) + 1);
  }
  const ranked = [...votes].sort((a, b) => b[1] - a[1]);
  const [first, second] = ranked;
  if (!first) throw new Error("no flowers to compare with");
  if (first[1] >= MAJORITY || !second) return { kind: "among", species: first[0] };
  return { kind: "between", species: [first[0], second[0]] };
}

export function describePlacement(placement: Placement): string {
  switch (placement.kind) {
    case "among":
      return `among the ${placement.species} cluster`;
    case "between":
      return `where the ${placement.species[0]} and ${placement.species[1]} clusters overlap`;
    case "outside": {
      const distance = formatCm(Math.round(placement.distanceCm * 10) / 10);
      return `outside every cluster, ${distance} from the nearest ${placement.nearest} flower`;
    }
  }
}

/** "petal 1.4 cm × 0.2 cm, among the setosa cluster" */
export function describeFlower(petalLength: number, petalWidth: number): string {
  const where = describePlacement(placeFlower(petalLength, petalWidth));
  return `petal ${formatCm(petalLength)} × ${formatCm(petalWidth)}, ${where}`;
}
