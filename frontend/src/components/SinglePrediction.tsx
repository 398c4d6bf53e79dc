import { useMemo, useRef, useState } from "react";
import { FEATURES, parseFieldPath, type ApiClient, type Feature } from "../api";
import {
  EMPTY_FORM,
  checkMeasurement,
  toFormValues,
  validateForm,
  type FieldMessages,
  type FormValues,
} from "../measurements";
import type { PollOptions } from "../polling";
import { usePredictionJob, type Settled } from "../usePredictionJob";
import { JobStatusView } from "./JobStatusView";
import { MeasurementForm, type MeasurementFormHandle } from "./MeasurementForm";
import { ResultView } from "./ResultView";

interface Props {
  api: ApiClient;
  now: () => number;
  poll?: PollOptions;
  onDone: (settled: Settled) => void;
}

/** One flower: the form, the job's progress and the answer. */
export function SinglePrediction({ api, now, poll, onDone }: Props) {
  const [values, setValues] = useState<FormValues>(EMPTY_FORM);
  const [clientErrors, setClientErrors] = useState<FieldMessages>({});
  // Fields edited since the server named them: their server message no longer applies.
  const [edited, setEdited] = useState<ReadonlySet<Feature>>(new Set());
  const form = useRef<MeasurementFormHandle>(null);
  const job = usePredictionJob(api, { poll, now, onDone });
  const { state } = job;

  const serverErrors = useMemo(() => {
    const messages: FieldMessages = {};
    if (state.phase !== "failed" || state.failure.kind !== "invalid") return messages;
    for (const error of state.failure.fieldErrors) {
      const feature = parseFieldPath(error.field)?.feature;
      if (feature && !edited.has(feature)) messages[feature] ??= `Server: ${error.message}`;
    }
    return messages;
  }, [state, edited]);

  const errors: FieldMessages = {};
  for (const feature of FEATURES) errors[feature] = clientErrors[feature] ?? serverErrors[feature];

  function change(feature: Feature, value: string) {
    setValues((v) => ({ ...v, [feature]: value }));
    setEdited((s) => new Set(s).add(feature));
    if (clientErrors[feature]) {
      const check = checkMeasurement(value);
      setClientErrors((e) => ({ ...e, [feature]: check.ok ? undefined : check.message }));
    }
  }

  function blur(feature: Feature) {
    if (values[feature].trim() === "") return; // an untouched empty field is not an error yet
    const check = checkMeasurement(values[feature]);
    setClientErrors((e) => ({ ...e, [feature]: check.ok ? undefined : check.message }));
    // The answer shown is for values the form no longer holds: it goes with the new error.
    if (!check.ok && state.phase === "done") job.reset();
  }

  function submit() {
    const result = validateForm(values);
    if (!result.ok) {
      // A new attempt: the last answer (or error) must not sit beside these field errors.
      job.reset();
      setClientErrors(result.errors);
      const first = FEATURES.find((f) => result.errors[f]);
      if (first) form.current?.focus(first);
      return;
    }
    setClientErrors({});
    setEdited(new Set());
    void job.submit([result.item]);
  }

  const result = state.phase === "done" ? state.response.items[0] : undefined;
  const flower = state.phase === "done" ? state.items[0] : undefined;

  return (
    <>
      <MeasurementForm
        ref={form}
        values={values}
        errors={errors}
        busy={state.phase === "submitting"}
        onChange={change}
        onBlur={blur}
        onPreset={(preset) => {
          setValues(toFormValues(preset.values));
          setClientErrors({});
          setEdited(new Set(FEATURES));
        }}
        onSubmit={submit}
      />
      <JobStatusView
        state={state}
        now={now}
        subject="flower"
        onRetry={() => void job.retry()}
        onCheckAgain={() => void job.checkAgain()}
      />
      {state.phase === "done" && result && (
        <ResultView
          item={result}
          flower={flower}
          modelVersion={state.response.model_version}
          jobId={state.response.job_id}
          timing={state.timing}
          cached={state.cached}
        />
      )}
    </>
  );
}
