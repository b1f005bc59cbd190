// Differential reader for TestDifferential (Node).
//
// Reads one base64 body per line on stdin and prints, per body, one JSON
// object: for each way a Node server commonly reads a body, the list of
// [method, name] it would dispatch (one per JSON-RPC message), or
// "error". See read.py for the shape.
"use strict";
const fs = require("fs");

const NAMES = new Map([
  ["tools/call", "name"],
  ["prompts/get", "name"],
  ["resources/read", "uri"],
  ["resources/subscribe", "uri"],
  ["resources/unsubscribe", "uri"],
]);

function typed(v) {
  if (typeof v === "string") return v;
  const t = v === null ? "null" : Array.isArray(v) ? "array" : typeof v;
  return { type: t };
}

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

// calls reads each message as own properties (has) and plain property
// access, like a server reading JSON.parse output directly.
function calls(doc, has, copy) {
  const msgs = Array.isArray(doc) ? doc : [doc];
  return msgs.map((m0) => {
    if (!isObject(m0)) return ["", ""];
    const m = copy(m0);
    if (!has(m, "method")) return ["", ""];
    const method = m.method;
    let name = "";
    const key = typeof method === "string" ? NAMES.get(method) : undefined;
    const params = isObject(m.params) ? copy(m.params) : m.params;
    if (key && isObject(params) && has(params, key)) name = typed(params[key]);
    return [typed(method), name];
  });
}

function read(parse, has, copy) {
  try {
    return calls(parse(), has, copy);
  } catch (e) {
    return "error";
  }
}

const own = (o, k) => Object.hasOwn(o, k);
const inherited = (o, k) => k in o;
const same = (o) => o;
// A copy by assignment, as object-merging and some validators do: a
// "__proto__" member becomes the copy's prototype.
const assign = (o) => Object.assign({}, o);

const lines = fs.readFileSync(0, "utf8").split("\n");
lines.pop(); // after the last newline
const out = [];
for (const line of lines) {
  const buf = Buffer.from(line, "base64");
  out.push(JSON.stringify({
    // fetch's Request.json() and raw-body/iconv: UTF-8 decode that
    // strips a BOM and replaces invalid bytes with U+FFFD.
    "node TextDecoder+JSON.parse": read(() => JSON.parse(new TextDecoder().decode(buf)), own, same),
    // Buffer.toString(): keeps a BOM, replaces invalid bytes.
    "node Buffer.toString+JSON.parse": read(() => JSON.parse(buf.toString("utf8")), own, same),
    // The same after copying each message and params by assignment.
    "node JSON.parse+Object.assign": read(() => JSON.parse(new TextDecoder().decode(buf)), inherited, assign),
  }));
}
process.stdout.write(out.join("\n") + "\n");
