// What the declarations refuse: each statement below must be a type error (tsc fails on an
// expect-error comment above a line that is none).
import { TypedEventSource } from "./eventsource.js";
import type { Streams, StreamSse2Events } from "./schema.js";

const echoes = new TypedEventSource<StreamSse2Events>("/sse2?message=hi");

// @ts-expect-error: an `echo` carries `message`, not `text`
echoes.on("echo", (data) => data.text);

// @ts-expect-error: /sse2 sends no `chat_message`
echoes.on("chat_message", () => undefined);

// @ts-expect-error: `echo`'s data is JSON, so it cannot be asked for as text
new TypedEventSource<StreamSse2Events>("/sse2", { text: ["echo"] });

// @ts-expect-error: a channel's message has `text`, and it is a string
new TypedEventSource<Streams["/events/demo/"]>("/events/demo/").on("chat_message", (data) => data.text * 2);

// @ts-expect-error: resume is kept in "session" or "local" storage, nothing else
new TypedEventSource<StreamSse2Events>("/sse2", { resume: "cookie" });
