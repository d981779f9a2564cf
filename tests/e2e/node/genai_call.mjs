// Run one Node `@google/genai` call described by a JSON argument and print the outcome as JSON
// (the Node twin of tests/e2e/sdk/genai_call.py). Pointed at the gateway by
// `httpOptions: {baseUrl: "http://HOST"}`.
import { ApiError, GoogleGenAI } from "@google/genai";
import { readFileSync } from "node:fs";

const spec = JSON.parse(process.argv[2]);
const ai = new GoogleGenAI({
  apiKey: spec.key,
  httpOptions: { baseUrl: spec.base_url, timeout: 30_000, ...(spec.http_options ?? {}) },
});
const pkg = new URL("node_modules/@google/genai/package.json", import.meta.url);
const out = { sdk: JSON.parse(readFileSync(pkg, "utf8")).version };
const req = { model: spec.model, contents: spec.contents, config: spec.config ?? undefined };

function parts(resp) {
  const cand = resp.candidates?.[0];
  return { cand, parts: cand?.content?.parts ?? [] };
}

try {
  if (spec.op === "generate") {
    const resp = await ai.models.generateContent(req);
    const { cand, parts: ps } = parts(resp);
    Object.assign(out, {
      text: ps.filter((p) => p.text && !p.thought).map((p) => p.text).join(""),
      calls: ps.filter((p) => p.functionCall).map((p) => p.functionCall.name),
      finish: cand?.finishReason ?? null,
      usage: resp.usageMetadata ?? null,
    });
  } else if (spec.op === "stream") {
    let text = "";
    let chunks = 0;
    let last = null;
    const calls = [];
    for await (const chunk of await ai.models.generateContentStream(req)) {
      chunks += 1;
      last = chunk;
      for (const p of parts(chunk).parts) {
        if (p.text && !p.thought) text += p.text;
        if (p.functionCall) calls.push(p.functionCall.name);
      }
    }
    Object.assign(out, {
      text,
      chunks,
      calls,
      finish: last?.candidates?.[0]?.finishReason ?? null,
      usage: last?.usageMetadata ?? null,
    });
  } else if (spec.op === "count") {
    const resp = await ai.models.countTokens({ model: spec.model, contents: spec.contents });
    out.total_tokens = resp.totalTokens;
  } else {
    throw new Error(`unknown op ${spec.op}`);
  }
} catch (err) {
  if (err instanceof ApiError) {
    out.error = { class: err.constructor.name, status: err.status, message: err.message };
  } else {
    throw err;
  }
}
console.log(JSON.stringify(out));
