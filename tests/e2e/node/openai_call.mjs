// Run one Node `openai` call described by a JSON argument and print the outcome as JSON
// (the Node twin of tests/e2e/sdk/openai_call.py). Pointed at the gateway by `http://HOST/v1`.
import OpenAI from "openai";
import { VERSION } from "openai/version";

const spec = JSON.parse(process.argv[2]);
const client = new OpenAI({
  baseURL: spec.base_url,
  apiKey: spec.key,
  maxRetries: 0,
  timeout: 30_000,
  defaultHeaders: spec.headers ?? undefined,
});
const out = { sdk: VERSION };

try {
  if (spec.op === "models") {
    out.ids = [];
    for await (const m of client.models.list()) out.ids.push(m.id);
  } else if (spec.op === "chat") {
    const params = spec.params;
    const { data, response } = await client.chat.completions.create(params).withResponse();
    out.request_id = response.headers.get("x-request-id");
    if (params.stream) {
      let text = "";
      let usage = null;
      let finish = null;
      let chunks = 0;
      const tools = [];
      for await (const chunk of data) {
        chunks += 1;
        if (chunk.usage) usage = chunk.usage;
        for (const choice of chunk.choices) {
          text += choice.delta?.content ?? "";
          for (const call of choice.delta?.tool_calls ?? []) {
            if (call.function?.name) tools.push(call.function.name);
          }
          finish = choice.finish_reason ?? finish;
        }
      }
      Object.assign(out, { text, usage, finish, chunks, tools });
    } else {
      const choice = data.choices[0];
      Object.assign(out, {
        text: choice.message.content,
        usage: data.usage ?? null,
        finish: choice.finish_reason,
        model: data.model,
        tools: (choice.message.tool_calls ?? []).map((c) => c.function.name),
      });
    }
  } else {
    throw new Error(`unknown op ${spec.op}`);
  }
} catch (err) {
  if (err instanceof OpenAI.APIError) {
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
