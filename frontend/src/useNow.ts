import { useEffect, useState } from "react";

/** The clock's time, refreshed every `intervalMs` while `running`: for live elapsed times. */
export function useNow(running: boolean, now: () => number, intervalMs = 100): number {
  const [time, setTime] = useState(now);
  useEffect(() => {
    if (!running) return;
    setTime(now());
    const timer = setInterval(() => setTime(now()), intervalMs);
    return () => clearInterval(timer);
  }, [running, now, intervalMs]);
  return time;
}
