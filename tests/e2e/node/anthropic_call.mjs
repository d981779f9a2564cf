// Run one Node `@anthropic-ai/sdk` call described by a JSON argument and print the outcome as
// JSON (the Node twin of tests/e2e/sdk/anthropic_call.py). baseURL is `http://HOST`, no /v1.
import Anthropic from "@anthropic-ai/sdk";
import { VERSION } from "@anthropic-ai/sdk/version";

const spec = JSON.parse(process.argv[2]);
const client = new Anthropic({
  baseURL: spec.base_url,
  apiKey: spec.key,
  maxRetries: 0,
  timeout: 30_000,
});
const out = { sdk: VERSION };
const params = spec.params ?? {};

function summary(msg) {
  const blocks = msg.content ?? [];
  return {
    text: blocks.filter((b) => b.type === "text").map((b) => b.text).join(""),
    thinking: blocks.filter((b) => b.type === "thinking").map((b) => b.thinking),
    tools: blocks
      .filter((b) => b.type === "tool_use")
      .map((b) => ({ name: b.name, input: b.input, id: b.id })),
    stop_reason: msg.stop_reason,
    usage: msg.usage,
    model: msg.model,
  };
}

try {
  if (spec.op === "create") {
    const { data, response } = await client.messages.create(params).withResponse();
    out.request_id = response.headers.get("x-request-id");
    Object.assign(out, summary(data));
  } else if (spec.op === "stream") {
    const stream = client.messages.stream(params);
    const events = [];
    for await (const event of stream) events.push(event.type);
    const msg = await stream.finalMessage();
    Object.assign(out, summary(msg), { events });
  } else if (spec.op === "count") {
    const { data, response } = await client.messages.countTokens(params).withResponse();
    out.estimated = response.headers.get("x-torouter-estimated");
    out.input_tokens = data.input_tokens;
  } else if (spec.op === "models") {
    out.ids = [];
    for await (const m of client.models.list()) out.ids.push(m.id);
  } else {
    throw new Error(`unknown op ${spec.op}`);
  }
} catch (err) {
  if (err instanceof Anthropic.APIError) {
    out.error = {
      class: err.constructor.name,
      status: err.status ?? null,
      body: err.error ?? null,
      message: err.message,
      request_id: err.headers?.get?.("x-request-id") ?? null,
    };
  } else {
    throw err;
  }
}
console.log(JSON.stringify(out));
