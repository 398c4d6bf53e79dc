/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** Where the API is; unset means the page's own origin (the proxy forwards). */
  readonly VITE_API_BASE?: string;
}

interface ImportMeta {
  readonly env: ImportMetaEnv;
}
