import { useEffect, useState } from "react";

/**
 * The clock's time, refreshed every `intervalMs`: for live elapsed times. It starts at the
 * time of mounting, so a component that counts from a new start is mounted anew (a `key`).
 */
export function useNow(now: () => number, intervalMs = 100): number {
  const [time, setTime] = useState(now);
  useEffect(() => {
    const timer = setInterval(() => setTime(now()), intervalMs);
    return () => clearInterval(timer);
  }, [now, intervalMs]);
  return time;
}
