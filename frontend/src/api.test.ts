import { describe, expect, expectTypeOf, it, vi } from "vitest";
import {
  ApiError,
  FEATURES,
  UnavailableError,
  ValidationError,
  apiBase,
  createApiClient,
  parseFieldPath,
  type Feature,
} from "./api";
import { FakeEventSources } from "./test/fakeEventSource";
import { json, problem } from "./test/fakeFetch";
import { SETOSA, jobView, response } from "./test/fixtures";

const ITEM = { sepal_length: 5.1, sepal_width: 3.5, petal_length: 1.4, petal_width: 0.2 };

describe("the API client", () => {
  it("posts the items asking for an asynchronous answer", async () => {
    const fetch = vi.fn(async () =>
      json(202, { job_id: "j1", status: "queued", status_url: "/jobs/j1" }),
    );
    const api = createApiClient("http://api.test", fetch);
    const outcome = await api.predict([ITEM]);
    expect(outcome).toEqual({
      kind: "accepted",
      job: { job_id: "j1", status: "queued", status_url: "/jobs/j1" },
    });
    expect(fetch).toHaveBeenCalledWith(
      "http://api.test/predict",
      expect.objectContaining({
        method: "POST",
        headers: { "Content-Type": "application/json", Prefer: "respond-async" },
        body: JSON.stringify({ items: [ITEM] }),
      }),
    );
  });

  it("returns an answer that was all cached as done", async () => {
    const body = response([{ ...SETOSA, cached: true }]);
    const api = createApiClient("", async () => json(200, body));
    expect(await api.predict([ITEM])).toEqual({ kind: "done", response: body });
  });

  it("takes its base from VITE_API_BASE", () => {
    vi.stubEnv("VITE_API_BASE", "https://api.example.test/");
    expect(apiBase()).toBe("https://api.example.test");
    vi.stubEnv("VITE_API_BASE", undefined);
    expect(apiBase()).toBe("");
    vi.unstubAllEnvs();
  });

  it("uses the page's origin when no base is set", async () => {
    const fetch = vi.fn(async () => json(200, jobView("j 1", "queued")));
    await createApiClient("", fetch).getJob("j 1");
    expect(fetch).toHaveBeenCalledWith("/jobs/j%201", expect.anything());
  });

  it("turns a 422 into a ValidationError carrying the field errors", async () => {
    const errors = [{ field: "items[0].petal_width", message: "Input should be greater than 0" }];
    const api = createApiClient("", async () => problem(422, "Invalid request", { errors }));
    const error = await api.predict([ITEM]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).fieldErrors).toEqual(errors);
    expect((error as ValidationError).status).toBe(422);
  });

  it.each([
    ["a 503 from the gateway", () => problem(503, "Redis is unavailable")],
    ["a 502 from a proxy", () => new Response("Bad Gateway", { status: 502 })],
    ["a bare 500 from vite's proxy", () => new Response("", { status: 500 })],
  ])("treats %s as unavailable", async (_, answer) => {
    const api = createApiClient("", async () => answer());
    await expect(api.getModel()).rejects.toBeInstanceOf(UnavailableError);
  });

  it("treats a network failure as unavailable", async () => {
    const api = createApiClient("", async () => {
      throw new TypeError("Failed to fetch");
    });
    await expect(api.predict([ITEM])).rejects.toThrow(
      new UnavailableError("the gateway could not be reached (network error)", null),
    );
  });

  it("keeps the server's words for other errors", async () => {
    const api = createApiClient("", async () => problem(404, "No such job"));
    const error = await api.getJob("nope").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).not.toBeInstanceOf(UnavailableError);
    expect((error as ApiError).status).toBe(404);
    expect((error as ApiError).message).toBe("No such job");
  });

  it("opens a job's event stream on the same base as the other calls", () => {
    const streams = new FakeEventSources();
    const api = createApiClient("http://api.test", vi.fn(), streams.open);
    expect(api.jobEvents("j 1")).toBe(streams.opened[0]);
    expect(streams.opened[0]!.url).toBe("http://api.test/jobs/j%201/events");
  });

  it("opens the browser's EventSource, or none where there is none", () => {
    const opened: string[] = [];
    class FakeEventSource {
      constructor(url: string) {
        opened.push(url);
      }
      addEventListener() {}
      close() {}
    }
    vi.stubGlobal("EventSource", FakeEventSource);
    expect(createApiClient("").jobEvents("j1")).toBeInstanceOf(FakeEventSource);
    expect(opened).toEqual(["/jobs/j1/events"]);
    // null stands for a browser without EventSource, where there is one.
    expect(createApiClient("", vi.fn(), null).jobEvents("j1")).toBeNull();
    vi.stubGlobal("EventSource", undefined);
    expect(createApiClient("").jobEvents("j1")).toBeNull();
    vi.unstubAllGlobals();
  });

  it("passes an abort through instead of calling it a network error", async () => {
    const controller = new AbortController();
    controller.abort();
    const api = createApiClient("", async () => {
      throw new DOMException("aborted", "AbortError");
    });
    await expect(api.getModel(controller.signal)).rejects.toHaveProperty("name", "AbortError");
  });
});

describe("FEATURES", () => {
  it("names every measurement of the request schema, each once", () => {
    // Checked by `npm run typecheck`: a feature added to the gateway's schema fails here.
    expectTypeOf<(typeof FEATURES)[number]>().toEqualTypeOf<Feature>();
    expect(new Set(FEATURES).size).toBe(FEATURES.length);
  });
});

describe("parseFieldPath", () => {
  it.each([
    ["items[0].petal_width", { index: 0, feature: "petal_width" }],
    ["items[12].sepal_length", { index: 12, feature: "sepal_length" }],
    ["items[3]", { index: 3, feature: null }],
    ["items[3].colour", { index: 3, feature: null }],
    ["items", null],
    ["body", null],
  ])("%j -> %j", (field, expected) => {
    expect(parseFieldPath(field)).toEqual(expected);
  });
});
