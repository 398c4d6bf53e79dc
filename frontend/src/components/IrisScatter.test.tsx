import { render, screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { IrisScatter } from "./IrisScatter";

function chart() {
  return screen.getByRole("img", { name: /^Iris data set, petal length against petal width/ });
}

describe("IrisScatter", () => {
  it("has a text alternative saying where the flower lies", () => {
    render(<IrisScatter petalLength={1.4} petalWidth={0.2} />);
    expect(chart()).toHaveAccessibleName(
      "Iris data set, petal length against petal width. " +
        "This flower: petal 1.4 cm × 0.2 cm, among the setosa cluster.",
    );
    expect(chart()).toHaveAccessibleDescription(
      /^50 setosa \(circles\): petals 1\.0 cm to 1\.9 cm long, 0\.1 cm to 0\.6 cm wide; 50 versicolor \(squares\)/,
    );
  });

  it("draws the 150 flowers, each species with its own shape, and marks this one", () => {
    const { container } = render(<IrisScatter petalLength={5.6} petalWidth={2} />);
    const svg = chart();
    expect(svg.querySelectorAll("circle:not([class])")).toHaveLength(50);
    expect(svg.querySelectorAll("rect")).toHaveLength(50);
    expect(svg.querySelectorAll("polygon")).toHaveLength(50);
    expect(svg.querySelector(".scatter-flower .ring")).not.toBeNull();
    expect(within(svg).getByText("this flower")).toBeInTheDocument();
    expect(container.querySelector("figcaption")).toHaveTextContent(/Fisher's iris data set/);
  });

  it("names each species in a legend, as well as by colour", () => {
    render(<IrisScatter petalLength={4.3} petalWidth={1.3} />);
    const legend = screen.getByRole("list", { name: "Legend" });
    expect(
      within(legend)
        .getAllByRole("listitem")
        .map((li) => li.textContent?.trim()),
    ).toEqual(["setosa (50)", "versicolor (50)", "virginica (50)", "this flower"]);
    expect(chart()).toHaveAccessibleName(/among the versicolor cluster/);
  });

  it("stretches its axes to hold a flower far outside the data set", () => {
    render(<IrisScatter petalLength={60} petalWidth={25} />);
    const svg = chart();
    expect(within(svg).getByText("60")).toBeInTheDocument();
    expect(within(svg).getByText("25")).toBeInTheDocument();
    expect(svg).toHaveAccessibleName(/outside every cluster/);
  });
});
