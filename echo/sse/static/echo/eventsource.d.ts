// Types of eventsource.js. `Events` maps each event name of a stream to its data, as
// `manage.py sse_schema --format typescript` declares them (`StreamSse2Events`, ...).

/** The data of `terminated` and `completed`. */
export interface EndPayload {
  reason: string;
}

/** The data of broadcast's `stream-reset`: the channels whose events may be missing. */
export interface ResetPayload {
  channels: string[];
}

/**
 * Why the stream stopped for good: `terminated` (an operator ended it), `completed` (its source ran
 * out), `closed` (the server answered without a stream: 204 when there is nothing more to send, a
 * 4xx, a 5xx), and the browser will not reconnect.
 */
export interface Stop {
  reason: "terminated" | "completed" | "closed";
  /** The event's data; null for `closed`. */
  data: EndPayload | null;
}

/** The names of `Events` whose data is text, not JSON. */
export type TextEvents<Events extends object> = {
  [K in keyof Events & string]: Events[K] extends string ? K : never;
}[keyof Events & string];

export type Listener<T> = (data: T, event: MessageEvent<string>) => void;

export interface TypedEventSourceOptions<Events extends object> {
  /** Send cookies to another origin (`EventSource`'s own option). */
  withCredentials?: boolean;
  /**
   * Keep the last event id across page loads, in `sessionStorage` ("session") or `localStorage`
   * ("local"), and resume from it: the first connection sends it as `?lastEventId=`.
   */
  resume?: "session" | "local" | false;
  /** The storage key; by default `resumeKey(url)`. */
  storageKey?: string;
  /** Events whose data is passed as the string it is (`stream-open` always is). */
  text?: ReadonlyArray<TextEvents<Events>>;
  onOpen?: () => void;
  /** The connection dropped; the browser reconnects on its own. */
  onReconnecting?: () => void;
  onStop?: (stop: Stop) => void;
  /** Events may be missing: reload what the page built from them. */
  onReset?: (data: ResetPayload) => void;
  /** An event whose data is not JSON (by default logged to the console, and not delivered). */
  onInvalid?: (name: string, data: string, error: unknown) => void;
}

export declare class TypedEventSource<Events extends object> {
  constructor(url: string | URL, options?: TypedEventSourceOptions<Events>);
  /** The URL connected to, `lastEventId` included when resuming. */
  readonly url: string;
  /** `EventSource.CONNECTING` (0), `OPEN` (1) or `CLOSED` (2). */
  readonly readyState: number;
  readonly lastEventId: string;
  /** Why the stream stopped, once it has. */
  readonly stopped: Stop | null;
  /** Calls `listener` with each `name` event's data; returns a function that removes it. */
  on<K extends keyof Events & string>(name: K, listener: Listener<Events[K]>): () => void;
  /** Close the stream for good (onStop is not called). */
  close(): void;
  /** Forget the stored position: the next page load starts the stream over. */
  forget(): void;
}

/** The storage key of a stream URL: its address and parameters, never its credentials. */
export declare function resumeKey(url: string | URL): string;
