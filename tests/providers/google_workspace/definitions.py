"""The Directory and Reports APIs' own definitions, from the discovery documents google-api-python-client
ships (`googleapiclient/discovery_cache/documents/`), and checks of JSON values and requests against them.

Each check returns a list of problems in words (empty: it conforms), so a test can show them all.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, Iterator

import googleapiclient

from providers.emulator import Request
from providers.google_workspace import wire

DOCUMENTS = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"
DIRECTORY = "admin.directory_v1"
REPORTS = "admin.reports_v1"
Doc = dict[str, Any]


@cache
def document(name: str) -> Doc:
    loaded: Doc = json.loads((DOCUMENTS / f"{name}.json").read_text())
    return loaded


def methods(doc: Doc) -> Iterator[tuple[str, dict[str, Any]]]:
    """(method id, method) for every method of every resource, nested ones included."""
    def walk(resources: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
        for resource in resources.values():
            for method in resource.get("methods", {}).values():
                yield method["id"], method
            yield from walk(resource.get("resources", {}))
    yield from walk(doc.get("resources", {}))


def method(doc: Doc, method_id: str) -> dict[str, Any]:
    return next(m for i, m in methods(doc) if i == method_id)


def _template(path: str) -> re.Pattern[str]:
    """A method's path (`admin/directory/v1/users/{userKey}`) as a regex of the request path."""
    pattern = re.sub(r"\\\{(?:\\\+)?(\w+)\\\}", lambda m: f"(?P<{m.group(1)}>[^/]+)", re.escape("/" + path))
    return re.compile(pattern)


def find(doc: Doc, verb: str, path: str) -> tuple[dict[str, Any], dict[str, str]] | None:
    """The method a request is, with its path parameters; None when the document has none such.
    Where several templates match, the one with the fewest parameters (`{+name}` ones last) is it."""
    matches = []
    for _, m in methods(doc):
        found = _template(m["path"]).fullmatch(path) if m["httpMethod"] == verb else None
        if found:
            matches.append(((m["path"].count("{+"), m["path"].count("{")), m, found.groupdict()))
    if not matches:
        return None
    _, m, args = min(matches, key=lambda match: match[0])
    return m, args


def schema(doc: Doc, ref: str) -> dict[str, Any]:
    found: dict[str, Any] = doc["schemas"][ref]
    return found


def _resolve(doc: Doc, spec: dict[str, Any]) -> dict[str, Any]:
    return schema(doc, spec["$ref"]) if "$ref" in spec else spec


def shape_problems(doc: Doc, value: Any, spec: dict[str, Any], where: str = "") -> list[str]:
    """Where `value` has a field the schema does not define, or a JSON type it does not give."""
    spec = _resolve(doc, spec)
    kind = spec.get("type", "object" if "properties" in spec else "any")
    if kind == "any":
        return []
    if kind == "object":
        if not isinstance(value, dict):
            return [f"{where or 'the answer'}: {type(value).__name__} where the schema has an object"]
        props, extra = spec.get("properties"), spec.get("additionalProperties")
        problems = []
        for key, item in value.items():
            at = f"{where}.{key}" if where else key
            if props is not None and key in props:
                problems += shape_problems(doc, item, props[key], at)
            elif extra is not None:
                problems += shape_problems(doc, item, extra, at)
            else:
                problems.append(f"{at}: no such field in {spec.get('id', 'the schema')}")
        return problems
    if kind == "array":
        if not isinstance(value, list):
            return [f"{where}: {type(value).__name__} where the schema has an array"]
        return [p for n, item in enumerate(value) for p in shape_problems(doc, item, spec["items"], f"{where}[{n}]")]
    return _scalar_problems(value, spec, kind, where)


def _scalar_problems(value: Any, spec: dict[str, Any], kind: str, where: str) -> list[str]:
    fmt = spec.get("format")
    if kind == "boolean":
        ok = isinstance(value, bool)
    elif kind == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "number":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif kind == "string":
        ok = isinstance(value, str) and _format_ok(value, fmt) and value in spec.get("enum", [value])
    else:
        return [f"{where}: the schema's type {kind!r} is not known to this check"]
    return [] if ok else [f"{where}: {value!r} is not a {kind}{f' ({fmt})' if fmt else ''} as the schema says"]


def _format_ok(value: str, fmt: str | None) -> bool:
    if fmt in ("int64", "uint64"):
        return re.fullmatch(r"-?\d+", value) is not None
    if fmt == "date-time":
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None
        except ValueError:
            return False
    return True


def selection_problems(doc: Doc, fields: str, spec: dict[str, Any]) -> list[str]:
    """Where a `fields=` selection names something the response schema does not have."""
    try:
        tree = wire.parse_fields(fields)
    except wire.FieldsError as err:
        return [f"fields={fields!r}: {err}"]
    return _selected(doc, tree, spec, "")


def _selected(doc: Doc, tree: wire.Selection, spec: dict[str, Any], where: str) -> list[str]:
    spec = _resolve(doc, spec)
    if spec.get("type") == "array":
        return _selected(doc, tree, spec["items"], where)
    props = spec.get("properties") or {}
    problems = []
    for name, sub in tree.items():
        at = f"{where}/{name}" if where else name
        if name == "*":
            continue
        if name not in props:
            problems.append(f"fields: {at} is not a field of {spec.get('id', 'the answer')}")
        elif sub is not None:
            problems += _selected(doc, sub, props[name], at)
    return problems


def request_problems(doc: Doc, req: Request) -> list[str]:
    """What in a request the document does not define: the method, a parameter or its value, a field
    asked for, a field written (or written though read-only)."""
    found = find(doc, req.method, req.path)
    if found is None:
        return [f"{req.method} {req.path}: no such method"]
    m, path_args = found
    problems = []
    params = m.get("parameters", {})
    for name, value in path_args.items():
        problems += _value_problems(name, value, params.get(name, {}))
    for name, values in req.query.items():
        spec = params.get(name) or doc["parameters"].get(name)
        if spec is None or spec.get("location") == "path":
            problems.append(f"{m['id']}: no query parameter {name!r}")
            continue
        for value in values:
            problems += _value_problems(name, value, spec)
    for name, spec in params.items():
        if spec.get("required") and name not in path_args and name not in req.query:
            problems.append(f"{m['id']}: required parameter {name!r} missing")
    if "fields" in req.query and "response" in m:
        problems += [f"{m['id']}: {p}" for p in selection_problems(doc, req.query["fields"][0], m["response"])]
    if req.body and "request" in m:
        problems += [f"{m['id']} body: {p}" for p in _body_problems(doc, json.loads(req.body), m["request"])]
    return problems


def _value_problems(name: str, value: str, spec: dict[str, Any]) -> list[str]:
    problems = []
    if spec.get("type") == "integer":
        try:
            number = int(value)
        except ValueError:
            return [f"{name}={value!r} is not an integer"]
        low, high = spec.get("minimum"), spec.get("maximum")
        if low is not None and number < int(low) or high is not None and number > int(high):
            problems.append(f"{name}={number} is outside [{low}, {high}]")
    if "enum" in spec and value not in spec["enum"]:
        problems.append(f"{name}={value!r} is not one of {spec['enum']}")
    if "pattern" in spec and not re.fullmatch(spec["pattern"], value):
        problems.append(f"{name}={value!r} does not match {spec['pattern']!r}")
    return problems


def _body_problems(doc: Doc, body: Any, spec: dict[str, Any]) -> list[str]:
    problems = shape_problems(doc, body, spec)
    props = _resolve(doc, spec).get("properties", {})
    if isinstance(body, dict):
        problems += [f"{k} is read-only (the API ignores or refuses it)" for k in body
                     if props.get(k, {}).get("readOnly")]
    return problems


def answer_problems(doc: Doc, req: Request, status: int, body: bytes) -> list[str]:
    """What in a 200 JSON answer to `req` its method's response schema does not define."""
    found = find(doc, req.method, req.path)
    if found is None or status != 200 or "response" not in found[0]:
        return []
    m = found[0]
    return [f"{m['id']} answer: {p}" for p in shape_problems(doc, json.loads(body), m["response"])]
