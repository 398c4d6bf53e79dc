import { forwardRef, useImperativeHandle, useRef, type FormEvent } from "react";
import { FEATURES, type Feature } from "../api";
import {
  FEATURE_LABELS,
  PRESETS,
  type FieldMessages,
  type FormValues,
  type Preset,
} from "../measurements";

interface Props {
  values: FormValues;
  errors: FieldMessages;
  busy: boolean;
  onChange: (feature: Feature, value: string) => void;
  onBlur: (feature: Feature) => void;
  onPreset: (preset: Preset) => void;
  onSubmit: () => void;
}

export interface MeasurementFormHandle {
  focus: (feature: Feature) => void;
}

/** The four measurements in cm, each with its error (if any) tied to it. */
export const MeasurementForm = forwardRef<MeasurementFormHandle, Props>(function MeasurementForm(
  { values, errors, busy, onChange, onBlur, onPreset, onSubmit },
  ref,
) {
  const inputs = useRef<Partial<Record<Feature, HTMLInputElement | null>>>({});
  useImperativeHandle(ref, () => ({ focus: (feature) => inputs.current[feature]?.focus() }), []);

  function handleSubmit(event: FormEvent) {
    event.preventDefault();
    onSubmit();
  }

  return (
    <form className="measurements" onSubmit={handleSubmit} noValidate aria-describedby="form-hint">
      <p id="form-hint" className="hint">
        Four measurements in centimetres, each greater than 0 and at most 100.
      </p>
      <div className="presets" role="group" aria-label="Presets">
        <span className="presets-label">Fill a typical flower:</span>
        {PRESETS.map((preset) => (
          <button key={preset.species} type="button" onClick={() => onPreset(preset)}>
            {preset.species}
          </button>
        ))}
      </div>
      <div className="fields">
        {FEATURES.map((feature) => {
          const id = `field-${feature}`;
          const error = errors[feature];
          return (
            <div key={feature} className={error ? "field field-invalid" : "field"}>
              <label htmlFor={id}>
                {FEATURE_LABELS[feature]} <span className="unit">(cm)</span>
              </label>
              <input
                id={id}
                name={feature}
                ref={(el) => {
                  inputs.current[feature] = el;
                }}
                type="text"
                inputMode="decimal"
                autoComplete="off"
                value={values[feature]}
                aria-invalid={error ? true : undefined}
                aria-describedby={error ? `${id}-error` : undefined}
                onChange={(e) => onChange(feature, e.target.value)}
                onBlur={() => onBlur(feature)}
              />
              {error && (
                <p id={`${id}-error`} className="field-error">
                  {error}
                </p>
              )}
            </div>
          );
        })}
      </div>
      <button type="submit" className="primary" disabled={busy} aria-disabled={busy}>
        {busy ? "Sending…" : "Predict"}
      </button>
    </form>
  );
});
