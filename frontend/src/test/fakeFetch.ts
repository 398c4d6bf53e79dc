// A fetch the test answers by hand, request by request: only for unit tests.
import { waitFor } from "@testing-library/react";
import type { FetchLike } from "../api";

export interface PendingRequest {
  method: string;
  path: string;
  init: RequestInit;
  headers: Record<string, string>;
  body: unknown;
  respond: (response: Response) => void;
  fail: (error: Error) => void;
}

type Responder = (request: PendingRequest) => Response;

export function json(status: number, body: unknown, contentType = "application/json"): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": contentType } });
}

export function problem(status: number, detail: string, extra: Record<string, unknown> = {}) {
  return json(
    status,
    { type: "about:blank", title: "Error", status, detail, ...extra },
    "application/problem+json",
  );
}

export class ScriptedFetch {
  readonly pending: PendingRequest[] = [];
  readonly calls: PendingRequest[] = [];
  private readonly auto: { method: string; path: string; responder: Responder }[] = [];

  /** Answer every matching request at once; a later responder for the same path wins. */
  always(method: string, path: string, responder: Responder): this {
    this.auto.push({ method, path, responder });
    return this;
  }

  readonly fetch: FetchLike = (input, init = {}) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(input, "http://test.invalid");
      const rawHeaders = (init.headers ?? {}) as Record<string, string>;
      const request: PendingRequest = {
        method: init.method ?? "GET",
        path: url.pathname,
        init,
        headers: rawHeaders,
        body: typeof init.body === "string" ? JSON.parse(init.body) : undefined,
        respond: resolve,
        fail: reject,
      };
      this.calls.push(request);
      init.signal?.addEventListener("abort", () =>
        reject(new DOMException("aborted", "AbortError")),
      );
      const auto = [...this.auto]
        .reverse()
        .find((a) => a.method === request.method && a.path === request.path);
      if (auto) resolve(auto.responder(request));
      else this.pending.push(request);
    });

  /** Waits for the next unanswered request to `path` and hands it to the test. */
  async next(method: string, path: string): Promise<PendingRequest> {
    let found: PendingRequest | undefined;
    await waitFor(() => {
      const index = this.pending.findIndex((r) => r.method === method && r.path === path);
      if (index < 0) throw new Error(`no pending ${method} ${path}`);
      [found] = this.pending.splice(index, 1);
    });
    return found!;
  }

  count(method: string, path: string): number {
    return this.calls.filter((r) => r.method === method && r.path === path).length;
  }
}
