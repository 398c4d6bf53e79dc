// The four measurements: labels, the server's validation rule, and typical flowers.
import { FEATURES, type Feature, type Measurements } from "./api";

export const FEATURE_LABELS: Record<Feature, string> = {
  sepal_length: "Sepal length",
  sepal_width: "Sepal width",
  petal_length: "Petal length",
  petal_width: "Petal width",
};

// The server's rule (contract.Measurement): a finite number in (0, 100] centimetres.
export const MIN_EXCLUSIVE = 0;
export const MAX_INCLUSIVE = 100;

// Plain decimal notation only: Number() alone would also take "0x10", "" or "  ".
const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

export type ValueCheck = { ok: true; value: number } | { ok: false; message: string };

export function checkMeasurement(raw: string): ValueCheck {
  const text = raw.trim();
  if (text === "") return { ok: false, message: "Enter a value in cm." };
  if (!DECIMAL.test(text)) return { ok: false, message: "Enter a number, like 5.1." };
  const value = Number(text);
  if (!Number.isFinite(value)) return { ok: false, message: "Enter a finite number." };
  if (value <= MIN_EXCLUSIVE) return { ok: false, message: "Must be greater than 0 cm." };
  if (value > MAX_INCLUSIVE) return { ok: false, message: "Must be at most 100 cm." };
  return { ok: true, value };
}

export type FormValues = Record<Feature, string>;
export type FieldMessages = Partial<Record<Feature, string>>;

export const EMPTY_FORM: FormValues = {
  sepal_length: "",
  sepal_width: "",
  petal_length: "",
  petal_width: "",
};

export function validateForm(
  values: FormValues,
): { ok: true; item: Measurements } | { ok: false; errors: FieldMessages } {
  const errors: FieldMessages = {};
  const item: Partial<Measurements> = {};
  for (const feature of FEATURES) {
    const check = checkMeasurement(values[feature]);
    if (check.ok) item[feature] = check.value;
    else errors[feature] = check.message;
  }
  if (Object.keys(errors).length > 0) return { ok: false, errors };
  return { ok: true, item: item as Measurements };
}

export interface Preset {
  species: string;
  values: Measurements;
}

// Typical flowers of each species (close to each class's mean in Fisher's data).
export const PRESETS: Preset[] = [
  {
    species: "setosa",
    values: { sepal_length: 5.0, sepal_width: 3.4, petal_length: 1.5, petal_width: 0.2 },
  },
  {
    species: "versicolor",
    values: { sepal_length: 5.9, sepal_width: 2.8, petal_length: 4.3, petal_width: 1.3 },
  },
  {
    species: "virginica",
    values: { sepal_length: 6.6, sepal_width: 3.0, petal_length: 5.6, petal_width: 2.0 },
  },
];

export function toFormValues(item: Measurements): FormValues {
  const values = { ...EMPTY_FORM };
  for (const feature of FEATURES) values[feature] = String(item[feature]);
  return values;
}

export function describeItem(item: Measurements): string {
  return FEATURES.map((f) => item[f]).join(" / ");
}
