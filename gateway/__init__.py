"""The gateway: HTTP API, cache lookups, job records and dispatch to the workers."""
