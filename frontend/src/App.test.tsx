import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createApiClient } from "./api";
import { App } from "./App";
import { FakeEventSources } from "./test/fakeEventSource";
import { ScriptedFetch, json, problem } from "./test/fakeFetch";
import { FAST_POLL, MODEL, SETOSA, VIRGINICA, jobView, response } from "./test/fixtures";

let net: ScriptedFetch;
let streams: FakeEventSources;

/** The app on scripted fetch; `push` gives it event streams, else it is a browser without. */
function renderApp(poll = FAST_POLL, { push = false } = {}) {
  const user = userEvent.setup();
  const api = createApiClient("", net.fetch, push ? streams.open : null);
  render(<App api={api} poll={poll} />);
  return user;
}

function field(label: string): HTMLInputElement {
  return screen.getByLabelText(`${label} (cm)`);
}

/** The error message tied to an input by aria-describedby. */
function errorOf(input: HTMLElement): string | null {
  const id = input.getAttribute("aria-describedby");
  return id ? (document.getElementById(id)?.textContent ?? null) : null;
}

const single = () => within(screen.getByRole("region", { name: "One flower" }));
const batch = () => within(screen.getByRole("region", { name: "Batch from CSV" }));
const history = () => within(screen.getByRole("region", { name: "History" }));

async function fillSetosa(user: ReturnType<typeof userEvent.setup>) {
  await user.click(single().getByRole("button", { name: "setosa" }));
}

beforeEach(() => {
  net = new ScriptedFetch().always("GET", "/model", () => json(200, MODEL));
  streams = new FakeEventSources();
});

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("the form", () => {
  it("labels every measurement with its unit and shows the model", async () => {
    renderApp();
    for (const label of ["Sepal length", "Sepal width", "Petal length", "Petal width"]) {
      expect(field(label)).toBeInTheDocument();
    }
    expect(await screen.findByText("rf-abc123")).toBeInTheDocument();
  });

  it("names each bad value next to its field and sends nothing", async () => {
    const user = renderApp();
    await user.type(field("Sepal length"), "5.1");
    await user.type(field("Sepal width"), "abc");
    await user.type(field("Petal length"), "101");
    await user.type(field("Petal width"), "0");
    await user.click(single().getByRole("button", { name: "Predict" }));

    expect(errorOf(field("Sepal length"))).toBeNull();
    expect(errorOf(field("Sepal width"))).toBe("Enter a number, like 5.1.");
    expect(errorOf(field("Petal length"))).toBe("Must be at most 100 cm.");
    expect(errorOf(field("Petal width"))).toBe("Must be greater than 0 cm.");
    expect(field("Sepal width")).toHaveAttribute("aria-invalid", "true");
    expect(field("Sepal width")).toHaveFocus();
    expect(net.count("POST", "/predict")).toBe(0);
  });

  it("checks a field when the user leaves it, and clears the message once fixed", async () => {
    const user = renderApp();
    await user.type(field("Petal width"), "-1");
    await user.tab();
    expect(errorOf(field("Petal width"))).toBe("Must be greater than 0 cm.");
    await user.clear(field("Petal width"));
    await user.type(field("Petal width"), "0.2");
    expect(errorOf(field("Petal width"))).toBeNull();
  });

  it("fills a typical flower of each species from the presets", async () => {
    const user = renderApp();
    await user.click(single().getByRole("button", { name: "virginica" }));
    expect(field("Petal length")).toHaveValue("5.6");
    await user.click(single().getByRole("button", { name: "setosa" }));
    expect(field("Petal length")).toHaveValue("1.5");
  });

  it("works with the keyboard alone", async () => {
    const user = renderApp();
    await user.tab(); // skip link
    await user.tab(); // first preset
    expect(single().getByRole("button", { name: "setosa" })).toHaveFocus();
    await user.keyboard("{Enter}");
    for (let i = 0; i < 7; i++) await user.tab(); // two presets, four fields, then Predict
    expect(single().getByRole("button", { name: "Predict" })).toHaveFocus();
    await user.keyboard("{Enter}");
    const post = await net.next("POST", "/predict");
    expect(post.body).toEqual({
      items: [{ sepal_length: 5, sepal_width: 3.4, petal_length: 1.5, petal_width: 0.2 }],
    });
  });
});

describe("a prediction's job", () => {
  it("goes queued → running → done, then shows the result and records it", async () => {
    const user = renderApp();
    await fillSetosa(user);
    await user.click(single().getByRole("button", { name: "Predict" }));

    expect(single().getByRole("status")).toHaveTextContent("Sending the flower…");
    const post = await net.next("POST", "/predict");
    expect(post.headers.Prefer).toBe("respond-async");
    post.respond(json(202, { job_id: "j1", status: "queued", status_url: "/jobs/j1" }));
    expect(await single().findByText("Job j1 is queued.")).toBeInTheDocument();
    expect(single().getByText(/^Elapsed: /)).toBeInTheDocument();

    (await net.next("GET", "/jobs/j1")).respond(json(200, jobView("j1", "running")));
    expect(await single().findByText("Job j1 is running.")).toBeInTheDocument();

    (await net.next("GET", "/jobs/j1")).respond(
      json(200, jobView("j1", "done", { items: [SETOSA] })),
    );
    expect(await single().findByText("Done.")).toBeInTheDocument();
    expect(
      single().getByRole("heading", { name: /Predicted species: setosa/ }),
    ).toBeInTheDocument();
    expect(single().getAllByRole("meter")).toHaveLength(3);
    expect(single().getByText("computed")).toBeInTheDocument();
    expect(single().getByText("rf-abc123")).toBeInTheDocument();
    expect(history().getByText(/5 \/ 3.4 \/ 1.5 \/ 0.2 cm → setosa \(97.0%\)/)).toBeInTheDocument();
  });

  it("shows an answer that was all cached at once, marked cached", async () => {
    const user = renderApp();
    await fillSetosa(user);
    await user.click(single().getByRole("button", { name: "Predict" }));
    (await net.next("POST", "/predict")).respond(
      json(200, response([{ ...SETOSA, cached: true }])),
    );
    expect(await single().findByText("Done: answered from the cache.")).toBeInTheDocument();
    expect(single().getByText("cached")).toBeInTheDocument();
    expect(net.count("GET", "/jobs/j1")).toBe(0);
    expect(history().getByText("cached")).toBeInTheDocument();
  });

  it("puts a 422's field errors next to the fields", async () => {
    const user = renderApp();
    await fillSetosa(user);
    await user.click(single().getByRole("button", { name: "Predict" }));
    (await net.next("POST", "/predict")).respond(
      problem(422, "Invalid request: items[0].petal_width", {
        errors: [{ field: "items[0].petal_width", message: "Input should be greater than 0" }],
      }),
    );
    await waitFor(() =>
      expect(errorOf(field("Petal width"))).toBe("Server: Input should be greater than 0"),
    );
    expect(errorOf(field("Petal length"))).toBeNull();
    expect(single().getByRole("alert")).toHaveTextContent("The server rejected some values.");
    await user.type(field("Petal width"), "5");
    expect(errorOf(field("Petal width"))).toBeNull();
  });

  it("shows a banner on 503 and sends the same request again on Retry", async () => {
    const user = renderApp();
    await fillSetosa(user);
    await user.click(single().getByRole("button", { name: "Predict" }));
    const first = await net.next("POST", "/predict");
    first.respond(problem(503, "The prediction store (Redis) is unavailable; retry shortly."));
    const banner = await single().findByRole("alert");
    expect(banner).toHaveTextContent("The service is unavailable.");
    expect(banner).toHaveTextContent("The prediction store (Redis) is unavailable");

    await user.click(within(banner).getByRole("button", { name: "Retry" }));
    const second = await net.next("POST", "/predict");
    expect(second.body).toEqual(first.body);
    second.respond(json(200, response([{ ...SETOSA, cached: true }])));
    expect(await single().findByText("Done: answered from the cache.")).toBeInTheDocument();
    expect(single().queryByRole("alert")).toBeNull();
  });

  it("shows a banner when the network fails", async () => {
    const user = renderApp();
    await fillSetosa(user);
    await user.click(single().getByRole("button", { name: "Predict" }));
    (await net.next("POST", "/predict")).fail(new TypeError("Failed to fetch"));
    expect(await single().findByRole("alert")).toHaveTextContent(
      "the gateway could not be reached (network error)",
    );
    expect(single().getByRole("button", { name: "Retry" })).toBeInTheDocument();
  });

  it("shows the error of a job that failed on the worker", async () => {
    const user = renderApp();
    await fillSetosa(user);
    await user.click(single().getByRole("button", { name: "Predict" }));
    (await net.next("POST", "/predict")).respond(
      json(202, { job_id: "j2", status: "queued", status_url: "/jobs/j2" }),
    );
    (await net.next("GET", "/jobs/j2")).respond(
      json(
        200,
        jobView("j2", "failed", { error: "prediction failed: the model could not be loaded" }),
      ),
    );
    const banner = await single().findByRole("alert");
    expect(banner).toHaveTextContent("Job j2 failed.");
    expect(banner).toHaveTextContent("prediction failed: the model could not be loaded");
  });

  it("says 'still running, job id …' at the deadline, and can check again", async () => {
    const user = renderApp({ ...FAST_POLL, deadlineMs: 20 });
    await fillSetosa(user);
    await user.click(single().getByRole("button", { name: "Predict" }));
    (await net.next("POST", "/predict")).respond(
      json(202, { job_id: "j3", status: "queued", status_url: "/jobs/j3" }),
    );
    net.always("GET", "/jobs/j3", () => json(200, jobView("j3", "queued")));
    expect(await single().findByText("Still running, job id j3.")).toBeInTheDocument();

    const polls = net.count("GET", "/jobs/j3");
    net.always("GET", "/jobs/j3", () => json(200, jobView("j3", "done", { items: [SETOSA] })));
    await user.click(single().getByRole("button", { name: "Check again" }));
    expect(await single().findByText("Done.")).toBeInTheDocument();
    expect(net.count("GET", "/jobs/j3")).toBeGreaterThan(polls);
    expect(single().getByRole("heading", { name: /setosa/ })).toBeInTheDocument();
  });
});

describe("a batch from CSV", () => {
  it("reports bad rows by line and sends nothing", async () => {
    const user = renderApp();
    const box = batch().getByLabelText(/CSV rows/);
    await user.click(box);
    await user.paste("5.1,3.5,1.4,0.2\n5.1,3.5,1.4\n6,3,5,-2");
    await user.click(batch().getByRole("button", { name: "Predict batch" }));
    const alert = batch().getByRole("alert");
    expect(within(alert).getByText("Line 2: expected 4 values, found 3")).toBeInTheDocument();
    expect(
      within(alert).getByText("Line 3: petal_width: Must be greater than 0 cm."),
    ).toBeInTheDocument();
    expect(net.count("POST", "/predict")).toBe(0);
  });

  it("sends all rows in one request, shows a table, and downloads the results", async () => {
    const createObjectURL = vi.fn<(blob: Blob) => string>(() => "blob:results");
    vi.stubGlobal("URL", Object.assign(URL, { createObjectURL, revokeObjectURL: vi.fn() }));
    // jsdom cannot follow a download link; the link's target and name are what matter.
    const click = vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(() => {});
    const user = renderApp();
    await user.click(batch().getByLabelText(/CSV rows/));
    await user.paste(
      "sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n7.7,3.0,6.1,2.3",
    );
    await user.click(batch().getByRole("button", { name: "Predict batch" }));

    const post = await net.next("POST", "/predict");
    expect(post.body).toEqual({
      items: [
        { sepal_length: 5.1, sepal_width: 3.5, petal_length: 1.4, petal_width: 0.2 },
        { sepal_length: 7.7, sepal_width: 3, petal_length: 6.1, petal_width: 2.3 },
      ],
    });
    post.respond(json(202, { job_id: "b1", status: "queued", status_url: "/jobs/b1" }));
    (await net.next("GET", "/jobs/b1")).respond(
      json(200, jobView("b1", "done", { items: [{ ...SETOSA, cached: true }, VIRGINICA] })),
    );

    const table = await batch().findByRole("table", { name: "Batch results" });
    const rows = within(table).getAllByRole("row");
    expect(rows).toHaveLength(3);
    expect(rows[1]).toHaveTextContent(/^25.13.51.40.2setosa97.0%yes$/);
    expect(rows[2]).toHaveTextContent(/^37.736.12.3virginica90.0%no$/);
    expect(history().getByText(/Batch of 2 → 1 setosa, 1 virginica/)).toBeInTheDocument();
    // One row came from the cache and one from a worker: the history counts both.
    expect(history().getByText("1 cached, 1 computed")).toBeInTheDocument();

    await user.click(batch().getByRole("button", { name: "Download results (CSV)" }));
    expect(createObjectURL).toHaveBeenCalledOnce();
    expect(click).toHaveBeenCalledOnce();
    const link = click.mock.contexts[0] as HTMLAnchorElement;
    expect(link.download).toBe("irisq-predictions.csv");
    expect(link.href).toBe("blob:results");
    const blob = createObjectURL.mock.calls[0]![0];
    expect(await blob.text()).toContain("7.7,3,6.1,2.3,virginica,0,0.1,0.9,false");
  });

  it("maps a 422 on an item to the CSV line it came from", async () => {
    const user = renderApp();
    await user.click(batch().getByLabelText(/CSV rows/));
    await user.paste("# two flowers\n5.1,3.5,1.4,0.2\n\n7.7,3.0,6.1,2.3");
    await user.click(batch().getByRole("button", { name: "Predict batch" }));
    (await net.next("POST", "/predict")).respond(
      problem(422, "Invalid request", {
        errors: [{ field: "items[1].petal_length", message: "Input should be a finite number" }],
      }),
    );
    expect(
      await batch().findByText("Line 4: petal_length: Input should be a finite number"),
    ).toBeInTheDocument();
  });
});

describe("a job followed by push", () => {
  async function submitSetosa(user: ReturnType<typeof userEvent.setup>, jobId = "j1") {
    await fillSetosa(user);
    await user.click(single().getByRole("button", { name: "Predict" }));
    (await net.next("POST", "/predict")).respond(
      json(202, { job_id: jobId, status: "queued", status_url: `/jobs/${jobId}` }),
    );
    return streams.next();
  }

  it("listens to the job's events and shows each state, without polling", async () => {
    const user = renderApp(FAST_POLL, { push: true });
    const stream = await submitSetosa(user);
    expect(stream.url).toBe("/jobs/j1/events");
    stream.emit("queued", jobView("j1", "queued"));
    expect(await single().findByText("Job j1 is queued.")).toBeInTheDocument();
    stream.emit("running", jobView("j1", "running"));
    expect(await single().findByText("Job j1 is running.")).toBeInTheDocument();
    stream.emit(
      "done",
      jobView("j1", "done", {
        items: [SETOSA],
        created_at: 1000,
        started_at: 1000.004,
        finished_at: 1000.015,
      }),
    );
    expect(await single().findByText("Done.")).toBeInTheDocument();
    expect(single().getByRole("heading", { name: /Predicted species: setosa/ })).toBeVisible();
    expect(stream.closed).toBe(true);
    expect(net.count("GET", "/jobs/j1")).toBe(0);
    // The job's own time, from its record; not the time until an answer reached the page.
    expect(single().getByText(/^15 ms \(4 ms queued, 11 ms running\)/)).toBeInTheDocument();
    expect(history().getByText(/15 ms, model rf-abc123/)).toBeInTheDocument();
  });

  it("shows a job that failed on the worker, from its failed event", async () => {
    const user = renderApp(FAST_POLL, { push: true });
    const stream = await submitSetosa(user, "j2");
    stream.emit("failed", jobView("j2", "failed", { error: "the model could not be loaded" }));
    const banner = await single().findByRole("alert");
    expect(banner).toHaveTextContent("Job j2 failed.");
    expect(banner).toHaveTextContent("the model could not be loaded");
    expect(stream.closed).toBe(true);
  });

  it("falls back to polling when the stream fails before the job ends", async () => {
    const user = renderApp(FAST_POLL, { push: true });
    const stream = await submitSetosa(user);
    stream.emit("queued", jobView("j1", "queued"));
    stream.fail();
    expect(stream.closed).toBe(true);
    (await net.next("GET", "/jobs/j1")).respond(
      json(200, jobView("j1", "done", { items: [SETOSA] })),
    );
    expect(await single().findByText("Done.")).toBeInTheDocument();
    expect(single().getByRole("heading", { name: /Predicted species: setosa/ })).toBeVisible();
  });

  it("polls in a browser without EventSource", async () => {
    const user = renderApp();
    await fillSetosa(user);
    await user.click(single().getByRole("button", { name: "Predict" }));
    (await net.next("POST", "/predict")).respond(
      json(202, { job_id: "j1", status: "queued", status_url: "/jobs/j1" }),
    );
    (await net.next("GET", "/jobs/j1")).respond(
      json(200, jobView("j1", "done", { items: [SETOSA] })),
    );
    expect(await single().findByText("Done.")).toBeInTheDocument();
    expect(streams.opened).toHaveLength(0);
  });

  it("closes the stream when the page goes away", async () => {
    const user = userEvent.setup();
    const api = createApiClient("", net.fetch, streams.open);
    const { unmount } = render(<App api={api} poll={FAST_POLL} />);
    const stream = await submitSetosa(user);
    expect(stream.closed).toBe(false);
    unmount();
    expect(stream.closed).toBe(true);
  });

  it("closes the last job's stream when a new request is sent", async () => {
    const user = renderApp(FAST_POLL, { push: true });
    const first = await submitSetosa(user, "j1");
    const second = await submitSetosa(user, "j2");
    expect(first.closed).toBe(true);
    expect(second.closed).toBe(false);
    first.emit("done", jobView("j1", "done", { items: [VIRGINICA] }));
    second.emit("done", jobView("j2", "done", { items: [SETOSA] }));
    expect(await single().findByRole("heading", { name: /setosa/ })).toBeInTheDocument();
  });
});

describe("a new request or an error clears the last answer", () => {
  it("a single flower's result goes when bad values are submitted", async () => {
    const user = renderApp();
    await fillSetosa(user);
    await user.click(single().getByRole("button", { name: "Predict" }));
    (await net.next("POST", "/predict")).respond(
      json(200, response([{ ...SETOSA, cached: true }])),
    );
    expect(await single().findByRole("heading", { name: /setosa/ })).toBeInTheDocument();

    await user.clear(field("Petal width"));
    await user.type(field("Petal width"), "-1");
    await user.click(single().getByRole("button", { name: "Predict" }));
    expect(errorOf(field("Petal width"))).toBe("Must be greater than 0 cm.");
    expect(single().queryByRole("heading", { name: /Predicted species/ })).toBeNull();
    expect(single().queryByRole("img")).toBeNull();
    expect(single().getByRole("status")).toBeEmptyDOMElement();
  });

  it("a single flower's result goes when a field turns bad", async () => {
    const user = renderApp();
    await fillSetosa(user);
    await user.click(single().getByRole("button", { name: "Predict" }));
    (await net.next("POST", "/predict")).respond(
      json(200, response([{ ...SETOSA, cached: true }])),
    );
    expect(await single().findByRole("heading", { name: /setosa/ })).toBeInTheDocument();
    await user.clear(field("Sepal length"));
    await user.type(field("Sepal length"), "abc");
    await user.tab();
    expect(errorOf(field("Sepal length"))).toBe("Enter a number, like 5.1.");
    expect(single().queryByRole("heading", { name: /Predicted species/ })).toBeNull();
  });

  it("a single flower's result goes while the next request is on its way", async () => {
    const user = renderApp();
    await fillSetosa(user);
    await user.click(single().getByRole("button", { name: "Predict" }));
    (await net.next("POST", "/predict")).respond(
      json(200, response([{ ...SETOSA, cached: true }])),
    );
    expect(await single().findByRole("heading", { name: /setosa/ })).toBeInTheDocument();
    await user.click(single().getByRole("button", { name: "Predict" }));
    expect(single().queryByRole("heading", { name: /Predicted species/ })).toBeNull();
    (await net.next("POST", "/predict")).respond(problem(503, "Redis is unavailable"));
    expect(await single().findByRole("alert")).toHaveTextContent("The service is unavailable.");
    expect(single().queryByRole("heading", { name: /Predicted species/ })).toBeNull();
  });

  it("a batch's table goes when the next rows are not valid", async () => {
    const user = renderApp();
    await user.click(batch().getByLabelText(/CSV rows/));
    await user.paste("5.1,3.5,1.4,0.2");
    await user.click(batch().getByRole("button", { name: "Predict batch" }));
    (await net.next("POST", "/predict")).respond(
      json(200, response([{ ...SETOSA, cached: true }])),
    );
    expect(await batch().findByRole("table", { name: "Batch results" })).toBeInTheDocument();

    await user.clear(batch().getByLabelText(/CSV rows/));
    await user.paste("5.1,3.5,1.4,0.2\n5.1,3.5");
    await user.click(batch().getByRole("button", { name: "Predict batch" }));
    expect(batch().getByRole("alert")).toHaveTextContent("Line 2: expected 4 values, found 2");
    expect(batch().queryByRole("table")).toBeNull();
    expect(batch().queryByRole("button", { name: "Download results (CSV)" })).toBeNull();
  });
});
