// TypedEventSource: the browser's own EventSource, with listeners per event name that receive the
// parsed JSON data, and echo's control events handled. An ES module served as a static file: no
// build step. Types for TypeScript are in eventsource.d.ts beside it; the payload types of a
// site's streams come from `manage.py sse_schema --format typescript`.
//
// What each control event does (the README's table):
//   terminated, completed  stop: the EventSource is closed, so the browser never reconnects;
//                          onStop says why
//   stream-reset           onReset: events may be missing, reload what was built from them
//   shutdown, error,       nothing here: the server ends the body and the browser reconnects after
//   stream-error           `retry:`, sending Last-Event-ID itself
// A response that is no stream (204 once a stream has nothing more to send, a 4xx) makes the
// browser give up: onStop with reason "closed".

const STORAGE_PREFIX = "echo-sse:last-event-id:";
// Longer ids are not kept: storage is bounded, and no echo stream makes ids this long.
const MAX_ID_LENGTH = 4096;
const ALWAYS_TEXT = ["stream-open"];
// Listened to for their ids alone (stream-open's is where a subscriber joined): the browser
// reconnects by itself after each of the others.
const REMEMBERED = ["stream-open", "shutdown", "error", "stream-error"];
// Query parameters whose name, or a word of it, is one of these never reach the storage key,
// since a page may put a credential in its stream URL. The server's own list
// (echo.sse.glue.redact.SECRET_NAMES) plus the stream tickets' name.
const SECRET_WORDS = new Set([
  "apikey", "auth", "authorization", "code", "credential", "credentials", "csrfmiddlewaretoken",
  "jwt", "key", "passwd", "password", "pwd", "secret", "session", "sessionid", "sig",
  "signature", "ticket", "token",
]);
const FORBIDDEN_IN_ID = /[\r\n\0]/;

function isSecret(name) {
  const words = name.split(/[^0-9A-Za-z]+|(?<=[a-z0-9])(?=[A-Z])/);
  return [name, ...words].some((word) => SECRET_WORDS.has(word.toLowerCase()));
}

function absolute(url) {
  return new URL(String(url), globalThis.location ? globalThis.location.href : undefined);
}

// The storage key of a stream: its address and its parameters, sorted, without the resume
// position and without any that may be a credential.
export function resumeKey(url) {
  const target = absolute(url);
  const kept = [...target.searchParams]
    .filter(([name]) => name !== "lastEventId" && !isSecret(name))
    .sort(([a, x], [b, y]) => (a === b ? (x < y ? -1 : x > y ? 1 : 0) : a < b ? -1 : 1));
  return `${STORAGE_PREFIX}${target.origin}${target.pathname}?${new URLSearchParams(kept)}`;
}

function openStorage(kind) {
  try {
    if (kind === "session") return globalThis.sessionStorage;
    if (kind === "local") return globalThis.localStorage;
  } catch {
    // Storage refused (a sandboxed frame, a privacy setting): the stream is read without resuming.
  }
  return null;
}

export class TypedEventSource {
  #source;
  #options;
  #storage;
  #key;
  #text;
  #lastEventId = "";
  #stopped = null;
  #closed = false;

  constructor(url, options = {}) {
    this.#options = options;
    this.#text = new Set([...ALWAYS_TEXT, ...(options.text ?? [])]);
    const target = absolute(url);
    this.#storage = options.resume ? openStorage(options.resume) : null;
    this.#key = options.storageKey ?? resumeKey(target);
    const stored = this.#read();
    if (stored) {
      // A first connection cannot send the Last-Event-ID header: echo reads this parameter
      // instead. The browser's own reconnections send the header, which the server prefers.
      target.searchParams.set("lastEventId", stored);
      this.#lastEventId = stored;
    }
    this.#source = new EventSource(target, { withCredentials: Boolean(options.withCredentials) });
    this.#source.addEventListener("open", () => options.onOpen?.());
    this.#source.addEventListener("error", () => this.#failed());
    this.#listen("terminated", (data) => this.#stop("terminated", data));
    this.#listen("completed", (data) => this.#stop("completed", data));
    this.#listen("stream-reset", (data) => options.onReset?.(data));
    for (const name of REMEMBERED) this.#listen(name, () => undefined);
  }

  get url() {
    return this.#source.url;
  }

  get readyState() {
    return this.#source.readyState;
  }

  get lastEventId() {
    return this.#lastEventId;
  }

  get stopped() {
    return this.#stopped;
  }

  // Calls `listener(data, event)` for each event called `name`; returns what removes it.
  on(name, listener) {
    return this.#listen(name, listener);
  }

  // Closes the stream for good; onStop is not called (the page chose it).
  close() {
    this.#closed = true;
    this.#source.close();
  }

  // Forgets the stored position: the next page load starts the stream over.
  forget() {
    try {
      this.#storage?.removeItem(this.#key);
    } catch {
      // Nothing stored, nothing to forget.
    }
  }

  #listen(name, listener) {
    const wrapped = (event) => {
      // `error` is also the name of EventSource's own connection event, which is no message.
      if (!(event instanceof MessageEvent)) return;
      this.#remember(event.lastEventId);
      let data = event.data;
      if (!this.#text.has(name)) {
        try {
          data = JSON.parse(event.data);
        } catch (error) {
          this.#invalid(name, event.data, error);
          return;
        }
      }
      listener(data, event);
    };
    this.#source.addEventListener(name, wrapped);
    return () => this.#source.removeEventListener(name, wrapped);
  }

  #invalid(name, data, error) {
    if (this.#options.onInvalid) this.#options.onInvalid(name, data, error);
    else console.error(`echo: the data of a ${JSON.stringify(name)} event is not JSON`, error);
  }

  #failed() {
    if (this.#stopped || this.#closed) return;
    if (this.#source.readyState === EventSource.CLOSED) this.#stop("closed", null);
    else this.#options.onReconnecting?.();
  }

  #stop(reason, data) {
    if (this.#stopped || this.#closed) return;
    this.#source.close();
    this.#stopped = { reason, data };
    this.#options.onStop?.(this.#stopped);
  }

  #read() {
    try {
      const stored = this.#storage?.getItem(this.#key) ?? "";
      return stored.length <= MAX_ID_LENGTH && !FORBIDDEN_IN_ID.test(stored) ? stored : "";
    } catch {
      return "";
    }
  }

  #remember(id) {
    if (!id || id === this.#lastEventId || id.length > MAX_ID_LENGTH || FORBIDDEN_IN_ID.test(id)) return;
    this.#lastEventId = id;
    try {
      this.#storage?.setItem(this.#key, id);
    } catch {
      // Storage full or refused: the stream goes on; only a reload loses its place.
    }
  }
}
