import react from "@vitejs/plugin-react";
import { defineConfig, type ProxyOptions } from "vite";

// The browser talks to one origin; these paths go on to the gateway (IRISQ_API_URL).
// Anchored so that, say, /models or /jobsearch would not be proxied by accident.
const API_PATHS = "^/(predict|jobs|model|health|ready)(/|\\?|$)";

function apiProxy(): Record<string, ProxyOptions> {
  const target = process.env.IRISQ_API_URL ?? "http://127.0.0.1:8000";
  return { [API_PATHS]: { target, changeOrigin: true, xfwd: true } };
}

export default defineConfig({
  plugins: [react()],
  server: { host: "127.0.0.1", port: 5174, strictPort: true, proxy: apiProxy() },
  preview: { host: "127.0.0.1", port: 5174, strictPort: true, proxy: apiProxy() },
  build: { outDir: "dist", sourcemap: true },
});
