import type {
  ItemResult,
  JobStatus,
  JobView,
  Measurements,
  ServedModel,
  PredictionResponse,
} from "../api";
import type { PollOptions } from "../polling";

export const FAST_POLL: PollOptions = {
  initialDelayMs: 1,
  maxDelayMs: 5,
  factor: 2,
  deadlineMs: 5000,
};

/** The first flower of Fisher's data: a setosa. */
export const SETOSA_FLOWER: Measurements = {
  sepal_length: 5.1,
  sepal_width: 3.5,
  petal_length: 1.4,
  petal_width: 0.2,
};

export const SETOSA: ItemResult = {
  prediction: "setosa",
  class_index: 0,
  probabilities: { setosa: 0.97, versicolor: 0.03, virginica: 0 },
  cached: false,
};

export const VIRGINICA: ItemResult = {
  prediction: "virginica",
  class_index: 2,
  probabilities: { setosa: 0, versicolor: 0.1, virginica: 0.9 },
  cached: false,
};

export function response(items: ItemResult[], jobId: string | null = null): PredictionResponse {
  return { model_version: "rf-abc123", job_id: jobId, items };
}

export function jobView(jobId: string, status: JobStatus, extra: Partial<JobView> = {}): JobView {
  return {
    job_id: jobId,
    status,
    created_at: 1000,
    started_at: status === "queued" ? null : 1000.1,
    finished_at: status === "done" || status === "failed" ? 1000.2 : null,
    model_version: status === "done" ? "rf-abc123" : null,
    items: null,
    error: null,
    ...extra,
  };
}

export const MODEL: ServedModel = {
  name: "random-forest",
  version: "rf-abc123",
  sha256: "0".repeat(64),
  trained_at: "2026-01-01T00:00:00Z",
  sklearn_version: "1.9.1",
  features: [
    { name: "sepal_length", unit: "cm" },
    { name: "sepal_width", unit: "cm" },
    { name: "petal_length", unit: "cm" },
    { name: "petal_width", unit: "cm" },
  ],
  classes: ["setosa", "versicolor", "virginica"],
  holdout_accuracy: 0.9667,
  n_estimators: 100,
  random_state: 42,
  estimator: "random_forest",
  params: {},
  answering: ["rf-abc123"],
};
