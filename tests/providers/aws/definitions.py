"""botocore's service models (IAM, STS, Organizations) as the definition of what AWS asks and answers,
and checks of the AWS emulator's recorded exchanges against them.

Each check returns a list of problems in words (empty: it conforms). The raw answers are checked, not
botocore's parse of them: botocore drops what its model lacks, which would hide a name moto invents.
"""

from __future__ import annotations

import base64
import binascii
import json
from functools import cache
from typing import Any
from xml.etree import ElementTree

from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape
from botocore.session import get_session
from botocore.utils import parse_timestamp

from providers.aws_iam.emulator import Exchange

PROTOCOL_PARAMS = frozenset(("Action", "Version"))


@cache
def model(service: str) -> ServiceModel:
    loaded: ServiceModel = get_session().get_service_model(service)
    return loaded


def operation(service: str, action: str) -> OperationModel | None:
    m = model(service)
    return m.operation_model(action) if action in m.operation_names else None


# -- requests ---------------------------------------------------------------------------------------

def request_problems(ex: Exchange) -> list[str]:
    """What in a request the model does not define: the operation, a parameter, a value outside its
    constraints, a required parameter left out."""
    op = operation(ex.service, ex.action)
    if op is None:
        return [f"{ex.service}:{ex.action}: no such operation"]
    shape = op.input_shape
    if ex.json:
        body = json.loads(ex.request_body or b"{}")
        return [f"{ex.action}: {p}" for p in (json_problems(body, shape) if shape else
                                                ([] if not body else ["a body where the model has no input"]))]
    params = {k: v for k, v in ex.params.items() if k not in PROTOCOL_PARAMS}
    if shape is None:
        return [f"{ex.action}: parameter {k!r} where the model has no input" for k in params]
    assert isinstance(shape, StructureShape)
    problems = [f"{ex.action}: {p}" for key, value in params.items() for p in _query_problems(shape, key.split("."),
                                                                                              value, key)]
    given = {k.split(".")[0] for k in params}
    problems += [f"{ex.action}: required {name} missing" for name in shape.required_members if name not in given]
    return problems


def _query_problems(shape: Shape, parts: list[str], value: str, key: str) -> list[str]:
    if isinstance(shape, StructureShape):
        if not parts or parts[0] not in shape.members:
            return [f"no parameter {key!r}"]
        return _query_problems(shape.members[parts[0]], parts[1:], value, key)
    if isinstance(shape, ListShape):
        if len(parts) < 2 or parts[0] != "member" or not parts[1].isdigit():
            return [f"{key!r} is not a list item (Name.member.N)"]
        return _query_problems(shape.member, parts[2:], value, key)
    if parts:
        return [f"no parameter {key!r}"]
    return _scalar_problems(shape, value, key)


def _scalar_problems(shape: Shape, value: str, where: str) -> list[str]:
    kind, meta = shape.type_name, shape.metadata
    if kind in ("integer", "long"):
        try:
            number = int(value)
        except ValueError:
            return [f"{where}={value!r} is not an {kind}"]
        if "min" in meta and number < meta["min"] or "max" in meta and number > meta["max"]:
            return [f"{where}={number} is outside [{meta.get('min')}, {meta.get('max')}]"]
        return []
    if kind == "boolean":
        return [] if value in ("true", "false") else [f"{where}={value!r} is not a boolean"]
    if kind == "timestamp":
        try:
            parse_timestamp(value)
        except (ValueError, TypeError, OverflowError):
            return [f"{where}={value!r} is not a timestamp"]
        return []
    if kind == "blob":
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return [f"{where}: not base64"]
        return []
    if "enum" in meta and value not in meta["enum"]:
        return [f"{where}={value!r} is not one of {meta['enum']}"]
    if "min" in meta and len(value) < meta["min"] or "max" in meta and len(value) > meta["max"]:
        return [f"{where}: length {len(value)} is outside [{meta.get('min')}, {meta.get('max')}]"]
    return []


# -- answers ------------------------------------------------------------------------------------------

def answer_problems(ex: Exchange) -> list[str]:
    """What in a successful answer the operation's output shape does not define."""
    op = operation(ex.service, ex.action)
    if op is None or not 200 <= ex.status < 300:
        return []
    if ex.json:
        body = json.loads(ex.body or b"{}")
        shape = op.output_shape
        return [f"{ex.action} answer: {p}" for p in (json_problems(body, shape) if shape else [])]
    return [f"{ex.action} answer: {p}" for p in xml_problems(op, ex.body)]


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def xml_problems(op: OperationModel, body: bytes) -> list[str]:
    root = ElementTree.fromstring(body)
    if _local(root.tag) != f"{op.name}Response":
        return [f"root element {_local(root.tag)}, not {op.name}Response"]
    shape = op.output_shape
    wrapper = shape.serialization.get("resultWrapper") if shape is not None else None
    problems = []
    for child in root:
        name = _local(child.tag)
        if name == "ResponseMetadata":
            continue
        if shape is None or name != wrapper:
            problems.append(f"{name}: not part of the answer (expected {wrapper or 'none'})")
            continue
        assert isinstance(shape, StructureShape)
        problems += _element_problems(child, shape, name)
    return problems


def _element_problems(node: ElementTree.Element, shape: Shape, where: str) -> list[str]:
    if isinstance(shape, StructureShape):
        by_xml = {m.serialization.get("name", n): m for n, m in shape.members.items()}
        out = []
        for child in node:
            name = _local(child.tag)
            member = by_xml.get(name)
            if member is None:
                out.append(f"{where}/{name}: no such member of {shape.name}")
            else:
                out += _element_problems(child, member, f"{where}/{name}")
        return out
    if isinstance(shape, ListShape):
        item = shape.member.serialization.get("name", "member")
        return [p for n, child in enumerate(node) for p in
                (_element_problems(child, shape.member, f"{where}[{n}]") if _local(child.tag) == item
                 else [f"{where}/{_local(child.tag)}: not a list item ({item})"])]
    if isinstance(shape, MapShape):
        return [f"{where}: maps are not checked here"]
    if len(node):
        return [f"{where}: elements inside the scalar {shape.type_name}"]
    return _scalar_problems(shape, node.text or "", where)


def json_problems(value: Any, shape: Shape, where: str = "") -> list[str]:
    """The JSON-protocol form of the same checks (Organizations)."""
    if isinstance(shape, StructureShape):
        if not isinstance(value, dict):
            return [f"{where or 'body'}: {type(value).__name__} where the model has a structure"]
        out = []
        for key, item in value.items():
            at = f"{where}.{key}" if where else key
            out += json_problems(item, shape.members[key], at) if key in shape.members else \
                [f"{at}: no such member of {shape.name}"]
        return out
    if isinstance(shape, ListShape):
        if not isinstance(value, list):
            return [f"{where}: {type(value).__name__} where the model has a list"]
        return [p for n, item in enumerate(value) for p in json_problems(item, shape.member, f"{where}[{n}]")]
    if isinstance(shape, MapShape):
        return [] if isinstance(value, dict) else [f"{where}: not a map"]
    kind = shape.type_name
    if kind == "timestamp":
        ok = isinstance(value, (int, float, str)) and not isinstance(value, bool)
    elif kind == "boolean":
        ok = isinstance(value, bool)
    elif kind in ("integer", "long"):
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, str) and value in shape.metadata.get("enum", [value])
    return [] if ok else [f"{where}: {value!r} is not a {kind} as the model says"]
