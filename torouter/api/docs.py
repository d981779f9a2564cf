"""`/api/docs`: the OpenAPI document as one self-contained HTML page.

No script, no font, no stylesheet from elsewhere: the page must work on an offline instance
(R15.1) and under a CSP that allows nothing but its own inline style (pinned by hash). It lists
every operation with its parameters, body and responses, then every schema with its fields;
schema names link to their section inside the page.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable
from html import escape
from typing import Any

__all__ = ["docs_headers", "render_docs"]

_METHODS = ("get", "post", "put", "patch", "delete")
_REF_PREFIX = "#/components/schemas/"

_STYLE = """
body{font:15px/1.5 system-ui,sans-serif;margin:0 auto;max-width:72rem;padding:1rem;color:#1b1b1b}
h1{margin-bottom:.2rem}h2{border-bottom:2px solid #ddd;margin-top:2.5rem}
section.op{border:1px solid #ddd;border-radius:6px;margin:1rem 0;padding:.2rem 1rem 1rem}
.m{display:inline-block;min-width:4.5rem;font-weight:700;text-transform:uppercase}
.get{color:#0a5}.post{color:#06c}.patch{color:#a60}.put{color:#a60}.delete{color:#c22}
code,.path{font-family:ui-monospace,monospace}table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #eee;padding:.25rem .5rem;text-align:left;vertical-align:top}
nav ul{columns:2}@media(max-width:40rem){nav ul{columns:1}}
"""
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()


def docs_headers() -> dict[str, str]:
    return {
        "content-security-policy": (
            f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        ),
        "x-content-type-options": "nosniff",
        "x-frame-options": "DENY",
        "cache-control": "no-cache",
    }


_CODE = re.compile(r"`([^`]+)`")


def _text(value: object) -> str:
    """Escaped text, with `backticks` as <code> (the only markup descriptions use)."""
    return _CODE.sub(r"<code>\1</code>", escape(str(value or "")))


def _notes(schema: dict[str, Any]) -> str:
    return "; ".join(x for x in (_text(schema.get("description")), _constraints(schema)) if x)


def _anchor(name: str) -> str:
    return "schema-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in name)


def _type(schema: dict[str, Any]) -> str:
    """A short HTML rendering of a JSON schema's type."""
    if "$ref" in schema:
        name = str(schema["$ref"]).removeprefix(_REF_PREFIX)
        return f'<a href="#{_anchor(name)}">{escape(name)}</a>'
    for combo in ("anyOf", "oneOf", "allOf"):
        if combo in schema:
            return " | ".join(_type(s) for s in schema[combo])
    if "enum" in schema:
        return "one of " + ", ".join(
            f"<code>{escape(json.dumps(v))}</code>" for v in schema["enum"]
        )
    if "const" in schema:
        return f"<code>{escape(json.dumps(schema['const']))}</code>"
    kind = schema.get("type", "any")
    if kind == "array":
        return "array of " + _type(schema.get("items", {}))
    if isinstance(kind, list):
        return " | ".join(escape(str(k)) for k in kind)
    text = escape(str(kind))
    if "format" in schema:
        text += f" ({escape(str(schema['format']))})"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        text += " of " + _type(schema["additionalProperties"])
    return text


def _constraints(schema: dict[str, Any]) -> str:
    keys = ("minimum", "maximum", "exclusiveMinimum", "minLength", "maxLength", "pattern")
    bits = [f"{k} <code>{escape(str(schema[k]))}</code>" for k in keys if k in schema]
    if "default" in schema:
        bits.append(f"default <code>{escape(json.dumps(schema['default']))}</code>")
    return "; ".join(bits)


def _table(head: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    th = "".join(f"<th scope=col>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _operation(method: str, path: str, op: dict[str, Any]) -> str:
    title = escape(op.get("summary") or op.get("operationId") or "")
    out = [
        f'<section class=op id="op-{escape(op.get("operationId", ""))}">',
        f'<h3><span class="m {method}">{method}</span> <span class=path>{escape(path)}</span></h3>',
        f"<p>{title}</p>",
    ]
    if op.get("description"):
        out.append(f"<p>{_text(op['description'])}</p>")
    if op.get("security"):
        schemes = ", ".join(escape(name) for req in op["security"] for name in req)
        out.append(f"<p>Authentication: {schemes}</p>")
    params = op.get("parameters", [])
    if params:
        rows = []
        for p in params:
            schema = p.get("schema", {})
            rows.append(
                [
                    f"<code>{escape(p['name'])}</code>",
                    escape(p.get("in", "")),
                    "yes" if p.get("required") else "no",
                    _type(schema),
                    _notes({**schema, "description": p.get("description")}),
                ]
            )
        out.append("<h4>Parameters</h4>")
        out.append(_table(["Name", "In", "Required", "Type", "Notes"], rows))
    body = op.get("requestBody", {}).get("content", {}).get("application/json")
    if body:
        out.append(f"<h4>Request body</h4><p>{_type(body.get('schema', {}))}</p>")
    rows = []
    for status, resp in sorted(op.get("responses", {}).items()):
        schema = resp.get("content", {}).get("application/json", {}).get("schema")
        rows.append(
            [escape(status), _text(resp.get("description")), _type(schema) if schema else ""]
        )
    out.append("<h4>Responses</h4>")
    out.append(_table(["Status", "Meaning", "Body"], rows))
    out.append("</section>")
    return "\n".join(out)


def _schema(name: str, schema: dict[str, Any]) -> str:
    out = [f'<section id="{_anchor(name)}"><h3>{escape(name)}</h3>']
    if schema.get("description"):
        out.append(f"<p>{_text(schema['description'])}</p>")
    props: dict[str, Any] = schema.get("properties", {})
    if props:
        required = set(schema.get("required", []))
        rows = [
            [
                f"<code>{escape(field)}</code>",
                _type(sub),
                "yes" if field in required else "no",
                _notes(sub),
            ]
            for field, sub in props.items()
        ]
        out.append(_table(["Field", "Type", "Required", "Notes"], rows))
    else:
        out.append(f"<p>{_type(schema)}</p>")
    out.append("</section>")
    return "\n".join(out)


def render_docs(doc: dict[str, Any]) -> str:
    info = doc.get("info", {})
    title = escape(f"{info.get('title', 'API')} {info.get('version', '')}".strip())
    ops = [
        (method, path, op)
        for path, item in doc.get("paths", {}).items()
        for method, op in item.items()
        if method in _METHODS
    ]
    nav = "".join(
        f'<li><a href="#op-{escape(op.get("operationId", ""))}">'
        f"{method.upper()} {escape(path)}</a></li>"
        for method, path, op in ops
    )
    schemas = doc.get("components", {}).get("schemas", {})
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>{title}</title><style>{_STYLE}</style></head><body>",
        f"<header><h1>{title}</h1>",
        f"<p>{_text(info.get('description'))}</p>",
        '<p>Machine-readable: <a href="/api/openapi.json">/api/openapi.json</a></p></header>',
        f'<nav aria-label="Operations"><h2>Operations</h2><ul>{nav}</ul></nav>',
        "<main><h2>Endpoints</h2>",
        *(_operation(m, p, op) for m, p, op in ops),
        "<h2>Schemas</h2>",
        *(_schema(name, s) for name, s in sorted(schemas.items())),
        "</main></body></html>",
    ]
    return "\n".join(parts)
