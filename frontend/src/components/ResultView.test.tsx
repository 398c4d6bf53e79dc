import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { SETOSA, SETOSA_FLOWER } from "../test/fixtures";
import type { Timing } from "../timing";
import { ResultView } from "./ResultView";

const JOB_TIMING: Timing = { source: "job", totalMs: 12.4, queuedMs: 3.1, runMs: 9.3 };

/** The text of the <dd> after the <dt> named `term`. */
function fact(term: string): string {
  return screen.getByText(term, { selector: "dt" }).nextElementSibling?.textContent ?? "";
}

describe("ResultView", () => {
  it("shows the species, a meter per class, the model version and the job", () => {
    render(
      <ResultView
        item={SETOSA}
        modelVersion="rf-abc123"
        jobId="j1"
        timing={JOB_TIMING}
        cached={false}
      />,
    );
    expect(screen.getByRole("heading", { name: /Predicted species: setosa/ })).toBeInTheDocument();
    const meters = screen.getAllByRole("meter");
    expect(meters).toHaveLength(3);
    const setosa = screen.getByRole("meter", { name: "setosa" });
    expect(setosa).toHaveAttribute("aria-valuenow", "0.97");
    expect(setosa).toHaveAttribute("aria-valuetext", "97.0%");
    expect(screen.getByRole("meter", { name: "virginica" })).toHaveAttribute(
      "aria-valuetext",
      "0.0%",
    );
    expect(screen.getByText("rf-abc123")).toBeInTheDocument();
    expect(fact("Job id")).toBe("j1");
    expect(screen.getByText("computed")).toBeInTheDocument();
  });

  it("takes the time from the job's record, split into queued and running", () => {
    render(
      <ResultView
        item={SETOSA}
        modelVersion="rf-abc123"
        jobId="j1"
        timing={JOB_TIMING}
        cached={false}
      />,
    );
    expect(fact("Time taken")).toBe("12 ms (3 ms queued, 9 ms running) from the job's record");
  });

  it("says a cached answer's time is the page's round trip, with no job", () => {
    render(
      <ResultView
        item={{ ...SETOSA, cached: true }}
        modelVersion="rf-abc123"
        jobId={null}
        timing={{ source: "round-trip", totalMs: 2 }}
        cached
      />,
    );
    expect(screen.getByText("cached")).toBeInTheDocument();
    expect(screen.queryByText("Job id")).toBeNull();
    expect(fact("Time taken")).toBe(
      "2 ms round trip, measured by the page (a cached answer has no job)",
    );
  });

  it("says a sync answer's time is the page's round trip too: it carries no job times", () => {
    render(
      <ResultView
        item={SETOSA}
        modelVersion="rf-abc123"
        jobId="j9"
        timing={{ source: "round-trip", totalMs: 1234 }}
        cached={false}
      />,
    );
    expect(fact("Time taken")).toBe(
      "1.23 s round trip, measured by the page (the answer carries no job times)",
    );
  });

  it("shows where the flower lies in the iris data set, beside the answer", () => {
    render(
      <ResultView
        item={SETOSA}
        flower={SETOSA_FLOWER}
        modelVersion="rf-abc123"
        timing={JOB_TIMING}
        cached={false}
      />,
    );
    expect(
      screen.getByRole("img", { name: /petal 1\.4 cm × 0\.2 cm, among the setosa cluster/ }),
    ).toBeInTheDocument();
  });
});
