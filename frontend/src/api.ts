// The one module that knows the gateway's endpoints and wire shapes. The shapes are generated
// from the gateway's OpenAPI document (`make api-types` writes openapi.json and api/schema.d.ts).
import type { components, paths } from "./api/schema";

type Schemas = components["schemas"];

export type PredictionRequest =
  paths["/predict"]["post"]["requestBody"]["content"]["application/json"];
/** One flower's four measurements in cm, as POST /predict takes them. */
export type Measurements = PredictionRequest["items"][number];
export type Feature = keyof Measurements;
// The model's column order; api.test.ts checks that it names every feature of the schema.
export const FEATURES = [
  "sepal_length",
  "sepal_width",
  "petal_length",
  "petal_width",
] as const satisfies readonly Feature[];

export type JobStatus = Schemas["JobStatus"];
export type ItemResult = Schemas["ItemResult"];
export type PredictionResponse = Schemas["PredictionResponse"];
export type JobAccepted = Schemas["JobAccepted"];
export type JobView = Schemas["JobView"];
export type ModelMetadata = Schemas["ModelMetadata"];
/** GET /model: the served version's metadata, the canary, and every version answering. */
export type ServedModel = Schemas["ServedModel"];

// Problem details have no schema in the OpenAPI document (its error responses name only the
// media type), so their shape is written here.
export interface FieldError {
  field: string;
  message: string;
}

/** RFC 9457 problem details, as every gateway error answers. */
export interface Problem {
  type?: string;
  title: string;
  status: number;
  detail: string;
  errors?: FieldError[];
  job_id?: string;
  checks?: Record<string, string>;
}

/** The gateway answered with an error it described. */
export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem;

  constructor(problem: Problem) {
    super(problem.detail || problem.title);
    this.name = "ApiError";
    this.status = problem.status;
    this.problem = problem;
  }
}

/** 422: the server named the bad fields ("items[0].petal_width"). */
export class ValidationError extends ApiError {
  readonly fieldErrors: FieldError[];

  constructor(problem: Problem) {
    super(problem);
    this.name = "ValidationError";
    this.fieldErrors = problem.errors ?? [];
  }
}

/** Worth retrying: the gateway or Redis is down (503), a proxy found no gateway, or no network. */
export class UnavailableError extends Error {
  readonly status: number | null;

  constructor(message: string, status: number | null) {
    super(message);
    this.name = "UnavailableError";
    this.status = status;
  }
}

/** As much of an EventSource as the app uses: named events, `error`, and close. */
export interface EventStream {
  addEventListener(type: string, listener: (event: Event) => void): void;
  close(): void;
}

/** Opens a server-sent event stream; EventSource in a browser, a fake in unit tests. */
export type OpenEventStream = (url: string) => EventStream;

/** The browser's EventSource, or null where it has none. Looked up per call, like fetch. */
function browserEventStream(url: string): EventStream | null {
  return typeof globalThis.EventSource === "function" ? new globalThis.EventSource(url) : null;
}

export type SubmitOutcome =
  { kind: "done"; response: PredictionResponse } | { kind: "accepted"; job: JobAccepted };

export interface ApiClient {
  /** POST /predict with `Prefer: respond-async`: 200 when every item was cached, else 202. */
  predict(items: Measurements[], signal?: AbortSignal): Promise<SubmitOutcome>;
  getJob(jobId: string, signal?: AbortSignal): Promise<JobView>;
  /**
   * GET /jobs/{id}/events: server-sent events named queued, running, done or failed, each
   * carrying the JobView that GET /jobs/{id} would answer; the stream ends after done or
   * failed. Null where the browser has no EventSource. The caller closes the stream.
   */
  jobEvents(jobId: string): EventStream | null;
  getModel(signal?: AbortSignal): Promise<ServedModel>;
}

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export function apiBase(): string {
  return (import.meta.env.VITE_API_BASE ?? "").replace(/\/+$/, "");
}

// A proxy (vite preview, nginx) answers these itself when the gateway is not there.
const GATEWAY_UNREACHABLE = new Set([502, 503, 504]);

async function readProblem(response: Response): Promise<Problem | null> {
  const type = response.headers.get("content-type") ?? "";
  if (!type.includes("json")) return null;
  try {
    const body: unknown = await response.json();
    if (body && typeof body === "object" && "status" in body) return body as Problem;
  } catch {
    // A truncated or non-JSON body is treated like no body.
  }
  return null;
}

async function toError(response: Response): Promise<Error> {
  const problem = await readProblem(response);
  if (GATEWAY_UNREACHABLE.has(response.status) || (response.status >= 500 && !problem)) {
    const detail = problem?.detail ?? `the server answered ${response.status}`;
    return new UnavailableError(detail, response.status);
  }
  const described: Problem = problem ?? {
    title: response.statusText || "Error",
    status: response.status,
    detail: `the server answered ${response.status}`,
  };
  return response.status === 422 ? new ValidationError(described) : new ApiError(described);
}

/**
 * `openStream` replaces the browser's EventSource (tests); null acts as a browser without one.
 */
export function createApiClient(
  base: string = apiBase(),
  fetchImpl?: FetchLike,
  openStream?: OpenEventStream | null,
): ApiClient {
  // Looked up per call, not captured at import, so tests and polyfills may replace it.
  const doFetch: FetchLike = fetchImpl ?? ((input, init) => globalThis.fetch(input, init));

  async function request(path: string, init: RequestInit): Promise<Response> {
    let response: Response;
    try {
      response = await doFetch(`${base}${path}`, init);
    } catch (error) {
      if (init.signal?.aborted) throw error;
      throw new UnavailableError("the gateway could not be reached (network error)", null);
    }
    if (!response.ok) throw await toError(response);
    return response;
  }

  return {
    async predict(items, signal) {
      const response = await request("/predict", {
        method: "POST",
        headers: { "Content-Type": "application/json", Prefer: "respond-async" },
        body: JSON.stringify({ items } satisfies PredictionRequest),
        signal,
      });
      if (response.status === 202) {
        return { kind: "accepted", job: (await response.json()) as JobAccepted };
      }
      return { kind: "done", response: (await response.json()) as PredictionResponse };
    },

    async getJob(jobId, signal) {
      const response = await request(`/jobs/${encodeURIComponent(jobId)}`, {
        headers: { Accept: "application/json" },
        signal,
      });
      return (await response.json()) as JobView;
    },

    jobEvents(jobId) {
      const url = `${base}/jobs/${encodeURIComponent(jobId)}/events`;
      if (openStream === null) return null;
      return openStream ? openStream(url) : browserEventStream(url);
    },

    async getModel(signal) {
      const response = await request("/model", {
        headers: { Accept: "application/json" },
        signal,
      });
      return (await response.json()) as ServedModel;
    },
  };
}

/** "items[3].petal_width" -> { index: 3, feature: "petal_width" }; null for other paths. */
export function parseFieldPath(field: string): { index: number; feature: Feature | null } | null {
  const match = /^items\[(\d+)\](?:\.(\w+))?$/.exec(field);
  if (!match) return null;
  const name = match[2];
  const feature = FEATURES.find((f) => f === name) ?? null;
  return { index: Number(match[1]), feature };
}
