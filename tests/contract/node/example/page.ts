// A page's script in TypeScript: eventsource.js and eventsource.d.ts copied beside it from
// echo/sse/static/echo/, and schema.d.ts written by
// `python manage.py sse_schema --format typescript -o schema.d.ts`.
import { TypedEventSource, type Stop } from "./eventsource.js";
import type { EchoPayload, EchoQuery, StreamSse2Events, StreamSseEvents, Streams } from "./schema.js";

function show(id: string, text: string): void {
  const element = document.getElementById(id);
  if (element) element.textContent = text;
}

const query: EchoQuery = { message: "hello", limit: 5 };
const params = new URLSearchParams({ message: query.message, limit: String(query.limit) });

const echoes = new TypedEventSource<StreamSse2Events>(`/sse2?${params}`, {
  resume: "session",
  onStop: (stop: Stop) => show("state", `stopped: ${stop.reason}`),
  onReconnecting: () => show("state", "reconnecting"),
});
echoes.on("echo", (data, event) => {
  const payload: EchoPayload = data;
  show("last", `#${event.lastEventId} ${payload.message} at ${data.created_at ?? "?"}`);
});
echoes.on("terminated", (data) => show("state", `ended by the server: ${data.reason}`));

// A broadcast channel, its events looked up by address.
const chat = new TypedEventSource<Streams["/events/demo/"]>("/events/demo/", {
  onReset: (data) => show("state", `missed events on ${data.channels.join(", ")}`),
});
chat.on("chat_message", (data) => show("chat", data.text.trim()));
chat.on("stream-open", (data: string) => show("joined", data === "" ? "joined" : data));

// The article's untyped stream: its data is text, so it is named in `text`.
const untyped = new TypedEventSource<StreamSseEvents>("/sse?message=hi", { text: ["echo"] });
untyped.on("echo", (data) => show("raw", data.toUpperCase()));

export const sources = [echoes, chat, untyped];
