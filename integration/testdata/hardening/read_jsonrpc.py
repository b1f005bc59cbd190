# Reads JSON-RPC bodies as a Python server does (json.loads on the raw
# bytes: UTF-8 with or without BOM, last duplicate member wins, NaN and
# Infinity accepted) and prints, per input line (a base64 body), one JSON
# line: {"ok": bool, "calls": [[method, name], ...]}.
import base64
import json
import sys


def text(x):
    if x is None:
        return ""
    return x if isinstance(x, str) else json.dumps(x, separators=(",", ":"))


def call(m):
    if not isinstance(m, dict):
        return ["<not an object>", ""]
    params = m.get("params")
    name = ""
    if isinstance(params, dict):
        name = params.get("name", params.get("uri", ""))
    return [text(m.get("method")), text(name)]


for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    body = base64.b64decode(line)
    try:
        v = json.loads(body)
    except Exception:
        print(json.dumps({"ok": False, "calls": []}))
        continue
    calls = [call(m) for m in v] if isinstance(v, list) else [call(v)]
    print(json.dumps({"ok": True, "calls": calls}))
