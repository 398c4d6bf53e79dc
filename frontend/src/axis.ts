// Round axes from 0 for the charts.

export interface Axis {
  max: number;
  step: number;
}

const STEPS = [0.5, 1, 2, 5, 10, 20, 50];

/** An axis from 0 that holds `value`, in at most 7 round steps. */
export function axisFor(value: number): Axis {
  const step = STEPS.find((s) => value / s <= 7) ?? STEPS[STEPS.length - 1]!;
  return { max: Math.max(step, Math.ceil(value / step - 1e-9) * step), step };
}

export function ticks({ max, step }: Axis): number[] {
  return Array.from({ length: Math.round(max / step) + 1 }, (_, i) => i * step);
}

export function tickLabel(value: number, { step }: Axis): string {
  return step < 1 ? value.toFixed(1) : String(value);
}
