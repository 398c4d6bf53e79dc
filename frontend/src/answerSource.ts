// Where a request's answers came from, as the history labels it: a batch can be both.
import type { ItemResult } from "./api";

/** "cached" when the cache answered every item, "computed" when it answered none, else both counts. */
export function answerSource(items: readonly Pick<ItemResult, "cached">[]): string {
  const cached = items.filter((item) => item.cached).length;
  const computed = items.length - cached;
  if (cached === 0) return "computed";
  if (computed === 0) return "cached";
  return `${cached} cached, ${computed} computed`;
}
