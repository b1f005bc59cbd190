// Reads JSON-RPC bodies as a Node server does (the bytes decoded as UTF-8
// with TextDecoder, which drops a BOM and replaces invalid sequences, then
// JSON.parse: last duplicate member wins) and prints, per input line (a
// base64 body), one JSON line: {"ok": bool, "calls": [[method, name], ...]}.
const readline = require("readline");

function call(m) {
  if (m === null || typeof m !== "object" || Array.isArray(m)) return ["<not an object>", ""];
  const p = m.params;
  let name = "";
  if (p !== null && typeof p === "object" && !Array.isArray(p)) {
    name = p.name !== undefined ? p.name : (p.uri !== undefined ? p.uri : "");
  }
  const s = (x) => (x === undefined || x === null ? "" : typeof x === "string" ? x : JSON.stringify(x));
  return [s(m.method), s(name)];
}

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  line = line.trim();
  if (!line) return;
  const text = new TextDecoder("utf-8").decode(Buffer.from(line, "base64"));
  let v;
  try {
    v = JSON.parse(text);
  } catch (e) {
    console.log(JSON.stringify({ ok: false, calls: [] }));
    return;
  }
  const calls = Array.isArray(v) ? v.map(call) : [call(v)];
  console.log(JSON.stringify({ ok: true, calls }));
});
