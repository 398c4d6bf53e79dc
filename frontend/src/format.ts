// How numbers read on screen: every percentage, duration and clock time goes through here.

export function formatSeconds(ms: number): string {
  const seconds = Math.max(0, ms) / 1000;
  return seconds < 10 ? `${seconds.toFixed(2)} s` : `${seconds.toFixed(1)} s`;
}

/** A job's own times are often a few milliseconds: whole ms below a second, else seconds. */
export function formatDuration(ms: number): string {
  const clamped = Math.max(0, ms);
  return clamped < 1000 ? `${Math.round(clamped)} ms` : formatSeconds(clamped);
}

/** A probability or a share as a percentage, always with one decimal: "97.0%", "100.0%". */
export function formatPercent(fraction: number): string {
  return `${(fraction * 100).toFixed(1)}%`;
}

export function formatClock(date: Date): string {
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

/** A length as entered, with one decimal at least, as the data set has it: "1.4 cm", "5.0 cm". */
export function formatCm(value: number): string {
  const text = String(value);
  return `${/[.e]/.test(text) ? text : `${text}.0`} cm`;
}
