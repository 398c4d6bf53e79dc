import { describe, expect, it } from "vitest";
import { answerSource } from "./answerSource";

const CACHED = { cached: true };
const COMPUTED = { cached: false };

describe("answerSource", () => {
  it("says cached when the cache answered every item", () => {
    expect(answerSource([CACHED])).toBe("cached");
    expect(answerSource([CACHED, CACHED, CACHED])).toBe("cached");
  });

  it("says computed when a worker answered every item", () => {
    expect(answerSource([COMPUTED])).toBe("computed");
    expect(answerSource([COMPUTED, COMPUTED])).toBe("computed");
  });

  it("counts both when a batch was answered partly from the cache", () => {
    const batch = [
      ...Array<typeof CACHED>(3).fill(CACHED),
      ...Array<typeof COMPUTED>(97).fill(COMPUTED),
    ];
    expect(answerSource(batch)).toBe("3 cached, 97 computed");
    expect(answerSource([COMPUTED, CACHED])).toBe("1 cached, 1 computed");
  });
});
