import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import type { JobState } from "../jobState";
import { SETOSA, SETOSA_FLOWER, response } from "../test/fixtures";
import { JobStatusView } from "./JobStatusView";

function show(state: JobState, clock = 1500) {
  const onRetry = vi.fn();
  const onCheckAgain = vi.fn();
  const view = render(
    <JobStatusView
      state={state}
      now={() => clock}
      subject="flower"
      onRetry={onRetry}
      onCheckAgain={onCheckAgain}
    />,
  );
  return { ...view, onRetry, onCheckAgain };
}

const FOLLOWING = { startedAt: 1000, count: 1, jobId: "j1", unreachable: false };

function steps() {
  return within(screen.getByRole("list", { name: "Job progress" })).getAllByRole("listitem");
}

describe("JobStatusView shows every state", () => {
  it("idle: an empty live region, ready to announce", () => {
    show({ phase: "idle" });
    const status = screen.getByRole("status");
    expect(status).toHaveAttribute("aria-live", "polite");
    expect(status).toBeEmptyDOMElement();
    expect(screen.queryByRole("alert")).toBeNull();
  });

  it("submitting: sending, with the elapsed time", () => {
    show({ phase: "submitting", startedAt: 1000, count: 1 });
    expect(screen.getByRole("status")).toHaveTextContent("Sending the flower…");
    expect(screen.getByText("Elapsed: 0.50 s")).toBeInTheDocument();
  });

  it("queued: the job id, the first step current, the elapsed time", () => {
    show({ phase: "queued", ...FOLLOWING });
    expect(screen.getByRole("status")).toHaveTextContent("Job j1 is queued.");
    expect(steps().map((s) => s.getAttribute("aria-current"))).toEqual(["step", null, null]);
    expect(screen.getByText("Elapsed: 0.50 s")).toBeInTheDocument();
  });

  it("running: the second step current, queued complete", () => {
    show({ phase: "running", ...FOLLOWING }, 13_400);
    expect(screen.getByRole("status")).toHaveTextContent("Job j1 is running.");
    const [queued, running] = steps();
    expect(queued).toHaveClass("complete");
    expect(running).toHaveAttribute("aria-current", "step");
    expect(screen.getByText("Elapsed: 12.4 s")).toBeInTheDocument();
  });

  it("running with the gateway unreachable: says it keeps checking", () => {
    show({ phase: "running", ...FOLLOWING, unreachable: true });
    expect(screen.getByText(/gateway is not answering.*still checking/)).toBeInTheDocument();
  });

  it("done by a job: all steps complete, no elapsed counter", () => {
    show({
      phase: "done",
      items: [SETOSA_FLOWER],
      response: response([SETOSA], "j1"),
      timing: { source: "job", totalMs: 420, queuedMs: 20, runMs: 400 },
      cached: false,
    });
    expect(screen.getByRole("status")).toHaveTextContent("Done.");
    expect(steps().every((s) => s.classList.contains("complete"))).toBe(true);
    expect(screen.queryByText(/Elapsed/)).toBeNull();
  });

  it("done from the cache: says so, and shows no job steps", () => {
    const cached = response([{ ...SETOSA, cached: true }]);
    show({
      phase: "done",
      items: [SETOSA_FLOWER],
      response: cached,
      timing: { source: "round-trip", totalMs: 3 },
      cached: true,
    });
    expect(screen.getByRole("status")).toHaveTextContent("Done: answered from the cache.");
    expect(screen.queryByRole("list", { name: "Job progress" })).toBeNull();
  });

  it("failed, unavailable (503 or network): a banner with Retry", async () => {
    const { onRetry } = show({
      phase: "failed",
      failure: { kind: "unavailable", detail: "The prediction store (Redis) is unavailable" },
    });
    const banner = screen.getByRole("alert");
    expect(banner).toHaveTextContent("The service is unavailable.");
    expect(banner).toHaveTextContent("The prediction store (Redis) is unavailable");
    await userEvent.click(within(banner).getByRole("button", { name: "Retry" }));
    expect(onRetry).toHaveBeenCalledOnce();
  });

  it("failed on the worker: the job id and its error, with Retry", () => {
    show({
      phase: "failed",
      failure: {
        kind: "job",
        jobId: "j9",
        detail: "prediction failed: the model could not be loaded",
      },
    });
    const banner = screen.getByRole("alert");
    expect(banner).toHaveTextContent("Job j9 failed.");
    expect(banner).toHaveTextContent("prediction failed: the model could not be loaded");
    expect(within(banner).getByRole("button", { name: "Retry" })).toBeInTheDocument();
  });

  it("failed validation: the server's field errors, no Retry", () => {
    show({
      phase: "failed",
      failure: {
        kind: "invalid",
        detail: "Invalid request",
        fieldErrors: [{ field: "items[0].petal_width", message: "Input should be greater than 0" }],
      },
    });
    const banner = screen.getByRole("alert");
    expect(banner).toHaveTextContent("items[0].petal_width: Input should be greater than 0");
    expect(within(banner).queryByRole("button")).toBeNull();
  });

  it("failed otherwise: the status code and the server's detail", () => {
    show({ phase: "failed", failure: { kind: "error", status: 413, detail: "Too many items" } });
    expect(screen.getByRole("alert")).toHaveTextContent("The request failed (413). Too many items");
  });

  it("overdue: still running, with the job id and Check again", async () => {
    const { onCheckAgain } = show({ phase: "overdue", ...FOLLOWING, lastStatus: "queued" });
    expect(screen.getByRole("status")).toHaveTextContent("Still running, job id j1.");
    expect(screen.getByText(/last seen queued/)).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Check again" }));
    expect(onCheckAgain).toHaveBeenCalledOnce();
  });
});
