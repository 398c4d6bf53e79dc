// Event streams the test drives by hand, in place of EventSource: only for unit tests.
import { waitFor } from "@testing-library/react";
import type { EventStream, OpenEventStream } from "../api";

export class FakeEventStream implements EventStream {
  closed = false;
  private readonly listeners = new Map<string, ((event: Event) => void)[]>();

  constructor(readonly url: string) {}

  addEventListener(type: string, listener: (event: Event) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }

  close(): void {
    this.closed = true;
  }

  /** A named event whose data is `body` as JSON (or as it is, when a string). */
  emit(type: string, body: unknown): void {
    const data = typeof body === "string" ? body : JSON.stringify(body);
    this.dispatch(new MessageEvent(type, { data }));
  }

  /** What EventSource fires when its connection fails or the server ends the stream. */
  fail(): void {
    this.dispatch(new Event("error"));
  }

  private dispatch(event: Event): void {
    if (this.closed) return; // a closed EventSource fires nothing more
    for (const listener of this.listeners.get(event.type) ?? []) listener(event);
  }
}

export class FakeEventSources {
  readonly opened: FakeEventStream[] = [];
  private claimed = 0;

  readonly open: OpenEventStream = (url) => {
    const stream = new FakeEventStream(url);
    this.opened.push(stream);
    return stream;
  };

  /** Waits for the next stream the code under test opens. */
  async next(): Promise<FakeEventStream> {
    let found: FakeEventStream | undefined;
    await waitFor(() => {
      found = this.opened[this.claimed];
      if (!found) throw new Error("no new event stream");
    });
    this.claimed += 1;
    return found!;
  }
}
