import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { createApiClient } from "../api";
import { ScriptedFetch, json, problem } from "../test/fakeFetch";
import { MODEL } from "../test/fixtures";
import { ModelInfo } from "./ModelInfo";

describe("ModelInfo", () => {
  it("shows the served model's version and accuracy", async () => {
    const net = new ScriptedFetch().always("GET", "/model", () => json(200, MODEL));
    render(<ModelInfo api={createApiClient("", net.fetch)} />);
    expect(await screen.findByText("rf-abc123")).toBeInTheDocument();
    expect(screen.getByText(/96.7% hold-out accuracy/)).toBeInTheDocument();
  });

  it("shows the canary and the versions still answering during a rollout", async () => {
    const rollout = {
      ...MODEL,
      canary: { version: "rf-def456", percent: 10 },
      answering: ["rf-abc123", "rf-def456", "rf-old999"],
    };
    const net = new ScriptedFetch().always("GET", "/model", () => json(200, rollout));
    render(<ModelInfo api={createApiClient("", net.fetch)} />);
    expect(await screen.findByText("rf-def456")).toBeInTheDocument();
    expect(screen.getByText(/computes 10% of/)).toBeInTheDocument();
    expect(screen.getByText(/still answering while workers switch/)).toBeInTheDocument();
    expect(screen.getByText(/rf-old999/)).toBeInTheDocument();
  });

  it("says why the model is unknown, and reloads on request", async () => {
    const net = new ScriptedFetch().always("GET", "/model", () =>
      problem(404, "No model is known yet"),
    );
    render(<ModelInfo api={createApiClient("", net.fetch)} retryMs={60_000} />);
    expect(await screen.findByText(/Model: unknown \(No model is known yet\)/)).toBeInTheDocument();
    net.always("GET", "/model", () => json(200, MODEL));
    await userEvent.click(screen.getByRole("button", { name: "Reload model info" }));
    expect(await screen.findByText("rf-abc123")).toBeInTheDocument();
  });

  it("tries again by itself while no worker has announced a model", async () => {
    const net = new ScriptedFetch().always("GET", "/model", () => problem(503, "No model yet"));
    render(<ModelInfo api={createApiClient("", net.fetch)} retryMs={5} />);
    expect(await screen.findByText(/Model: unknown/)).toBeInTheDocument();
    net.always("GET", "/model", () => json(200, MODEL));
    expect(await screen.findByText("rf-abc123")).toBeInTheDocument();
  });
});
