"""Differential reader for TestDifferential (Python).

Reads one base64 body per line on stdin and prints, per body, one JSON
object: for each way a Python server commonly reads a body, the list of
[method, name] it would dispatch (one per JSON-RPC message), or "error".
A name is params.name of tools/call and prompts/get, params.uri of
resources/read|subscribe|unsubscribe; a value that is not a string is
printed as {"type": ...}.
"""
import base64
import json
import sys

try:  # The MCP Python SDK reads bodies with pydantic (jiter); used when installed.
    import pydantic_core
except ImportError:
    pydantic_core = None

NAMES = {
    "tools/call": "name",
    "prompts/get": "name",
    "resources/read": "uri",
    "resources/subscribe": "uri",
    "resources/unsubscribe": "uri",
}


def typed(v):
    if isinstance(v, str):
        return v
    if v is None:
        t = "null"
    elif isinstance(v, bool):
        t = "boolean"
    elif isinstance(v, (int, float)):
        t = "number"
    elif isinstance(v, list):
        t = "array"
    else:
        t = "object"
    return {"type": t}


def calls(doc):
    msgs = doc if isinstance(doc, list) else [doc]
    out = []
    for m in msgs:
        if not isinstance(m, dict) or "method" not in m:
            out.append(["", ""])
            continue
        method, name = m["method"], ""
        key = NAMES.get(method) if isinstance(method, str) else None
        params = m.get("params")
        if key and isinstance(params, dict) and key in params:
            name = typed(params[key])
        out.append([typed(method), name])
    return out


def read(parse):
    try:
        return calls(parse())
    except Exception:  # ValueError, UnicodeDecodeError, RecursionError
        return "error"


for line in sys.stdin:
    body = base64.b64decode(line.strip())
    results = {
        # What json.loads(request_body_bytes) dispatches (it also
        # detects UTF-16/32 and skips a UTF-8 BOM).
        "python json.loads(bytes)": read(lambda: json.loads(body)),
        # What json.loads(body.decode()) dispatches.
        "python json.loads(str)": read(lambda: json.loads(body.decode("utf-8"))),
    }
    if pydantic_core is not None:
        results["python pydantic_core.from_json"] = read(lambda: pydantic_core.from_json(body))
    print(json.dumps(results))
