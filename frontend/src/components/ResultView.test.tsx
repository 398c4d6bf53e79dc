import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { SETOSA } from "../test/fixtures";
import { ResultView } from "./ResultView";

describe("ResultView", () => {
  it("shows the species, a meter per class, the model version and the time", () => {
    render(<ResultView item={SETOSA} modelVersion="rf-abc123" elapsedMs={1234} cached={false} />);
    expect(screen.getByRole("heading", { name: /Predicted species: setosa/ })).toBeInTheDocument();
    const meters = screen.getAllByRole("meter");
    expect(meters).toHaveLength(3);
    const setosa = screen.getByRole("meter", { name: "setosa" });
    expect(setosa).toHaveAttribute("aria-valuenow", "0.97");
    expect(setosa).toHaveAttribute("aria-valuetext", "97.0%");
    expect(screen.getByText("rf-abc123")).toBeInTheDocument();
    expect(screen.getByText("1.23 s")).toBeInTheDocument();
    expect(screen.getByText("computed")).toBeInTheDocument();
  });

  it("marks a cached answer", () => {
    render(<ResultView item={SETOSA} modelVersion="rf-abc123" elapsedMs={2} cached />);
    expect(screen.getByText("cached")).toBeInTheDocument();
  });
});
