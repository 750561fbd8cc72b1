// A small LLM-like backend for the docker-compose demo (no dependencies: `node demo/llm-backend.mjs`).
// POST /v1/chat/completions answers as OpenAI's streaming API does: server-sent events with the reply in pieces, then
// one event carrying usage.total_tokens (which Envoy's stream_to_metadata filter reads to charge the user's token
// budget in Sluice), then `data: [DONE]`. Tokens are counted as words, so the charge is predictable:
// prompt_tokens = words in the messages, completion_tokens = words in the reply. Any other request gets a JSON echo.
// PORT (default 9000) and HOST (default 0.0.0.0) choose the listener.
import { createServer } from "node:http";

const REPLY = ["Hello", "from", "the", "demo", "backend", "of", "Sluice."];

function words(text) {
  return String(text).split(/\s+/).filter(Boolean).length;
}

function promptTokens(body) {
  const messages = Array.isArray(body?.messages) ? body.messages : [];
  return Math.max(1, messages.reduce((n, m) => n + words(m?.content ?? ""), 0));
}

function chat(req, res, raw) {
  let body;
  try {
    body = JSON.parse(raw || "{}");
  } catch {
    res.writeHead(400, { "Content-Type": "application/json" });
    res.end('{"error":"body is not JSON"}\n');
    return;
  }
  const model = typeof body.model === "string" ? body.model : "demo-model";
  const prompt = promptTokens(body);
  res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache" });
  for (const word of REPLY) {
    const chunk = { object: "chat.completion.chunk", model, choices: [{ index: 0, delta: { content: `${word} ` } }] };
    res.write(`data: ${JSON.stringify(chunk)}\n\n`);
  }
  const usage = { prompt_tokens: prompt, completion_tokens: REPLY.length, total_tokens: prompt + REPLY.length };
  res.write(`data: ${JSON.stringify({ object: "chat.completion.chunk", model, choices: [], usage })}\n\n`);
  res.end("data: [DONE]\n\n");
}

const server = createServer((req, res) => {
  let raw = "";
  req.setEncoding("utf8");
  req.on("data", (c) => {
    raw += c;
  });
  req.on("end", () => {
    if (req.method === "POST" && req.url?.startsWith("/v1/chat/completions")) return chat(req, res, raw);
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(`${JSON.stringify({ ok: true, method: req.method, path: req.url })}\n`);
  });
});

const port = Number(process.env.PORT ?? 9000);
server.listen(port, process.env.HOST ?? "0.0.0.0", () => {
  process.stdout.write(`demo backend listening on ${JSON.stringify(server.address())}\n`);
});
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => server.close(() => process.exit(0)));
