"""Wire formats of the Directory API that the emulator speaks: error bodies, `fields` partial
responses and multipart/mixed batches. Kept apart from the emulator's state so both stay small.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from providers.emulator import Request, Response

_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
           409: "ALREADY_EXISTS", 412: "FAILED_PRECONDITION", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
           503: "UNAVAILABLE"}
_DEFAULT_REASON = {400: "badRequest", 401: "authError", 403: "forbidden", 404: "notFound",
                   429: "rateLimitExceeded", 500: "backendError", 503: "backendError"}
_MESSAGES = {
    "authError": "Invalid Credentials",
    "forbidden": "Not Authorized to access this resource/api",
    "insufficientPermissions": "Request had insufficient authentication scopes.",
    "userRateLimitExceeded": "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user'",
    "rateLimitExceeded": "Rate Limit Exceeded",
    "quotaExceeded": "Quota exceeded for quota metric 'Queries' and limit 'Queries per day'",
    "backendError": "Service unavailable. Please try again",
    "notFound": "Resource Not Found: userKey",
    "badRequest": "Bad Request",
}
_USAGE = {"userRateLimitExceeded", "rateLimitExceeded", "quotaExceeded", "dailyLimitExceeded"}
HTTP_REASON = {200: "OK", 204: "No Content", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
               404: "Not Found", 409: "Conflict", 412: "Precondition Failed", 429: "Too Many Requests",
               500: "Internal Server Error", 503: "Service Unavailable"}


def error(status: int, reason: str | None = None, message: str | None = None) -> Response:
    """A Google JSON error body: {"error": {"code", "message", "errors": [...], "status"}}."""
    if not reason or reason == "injected":
        reason = _DEFAULT_REASON.get(status, "backendError")
    message = message or _MESSAGES.get(reason, reason)
    item = {"message": message, "domain": "usageLimits" if reason in _USAGE else "global", "reason": reason}
    if reason == "authError":
        item.update(location="Authorization", locationType="header")
    body = {"error": {"code": status, "message": message, "errors": [item],
                      "status": _STATUS.get(status, "UNKNOWN")}}
    return Response.json(status, body)


# --- fields= partial responses -------------------------------------------------------------

Selection = dict[str, "Selection | None"]  # None: the whole value


class FieldsError(ValueError):
    pass


def page_size(req: Request, maximum: int) -> int | Response:
    """A request's `maxResults` (default `maximum`), or the API's 400 when it is outside [1, maximum]."""
    try:
        size = int(req.arg("maxResults", str(maximum)) or "")
    except ValueError:
        size = 0
    if not 1 <= size <= maximum:
        return error(400, "invalid", f"Invalid value '{req.arg('maxResults')}'. "
                     f"Values must be within the range: [1, {maximum}]")
    return size


def parse_fields(text: str) -> Selection:
    """Parse `nextPageToken,users(id,name/fullName)` into {"nextPageToken": None, "users": {...}}."""
    pos, tree = _parse_list(text.replace(" ", ""), 0)
    if pos != len(text.replace(" ", "")):
        raise FieldsError(f"Invalid field selection {text}")
    return tree


_NAME = re.compile(r"[A-Za-z0-9_*]+(/[A-Za-z0-9_*]+)*")


def _parse_list(s: str, pos: int) -> tuple[int, Selection]:
    tree: Selection = {}
    while True:
        m = _NAME.match(s, pos)
        if not m:
            raise FieldsError(f"Invalid field selection {s}")
        pos = m.end()
        sub: Selection | None = None
        if pos < len(s) and s[pos] == "(":
            pos, sub = _parse_list(s, pos + 1)
            if pos >= len(s) or s[pos] != ")":
                raise FieldsError(f"Invalid field selection {s}")
            pos += 1
        _add(tree, m.group(0).split("/"), sub)
        if pos < len(s) and s[pos] == ",":
            pos += 1
            continue
        return pos, tree


def _add(tree: Selection, names: list[str], sub: Selection | None) -> None:
    node = tree
    for name in names[:-1]:
        child = node.setdefault(name, {})
        if child is None:  # the whole value is already selected
            return
        node = child
    last = names[-1]
    if last not in node:
        node[last] = sub
    elif (selected := node[last]) is not None:
        node[last] = None if sub is None else {**selected, **sub}


def select(value: object, tree: Selection | None) -> object:
    """Apply a parsed selection to a JSON value (lists are selected element by element)."""
    if tree is None or "*" in tree and len(tree) == 1 and tree["*"] is None:
        return value
    if isinstance(value, list):
        return [select(v, tree) for v in value]
    if isinstance(value, dict):
        if "*" in tree:
            return {k: select(v, tree["*"]) for k, v in value.items()}
        return {k: select(value[k], sub) for k, sub in tree.items() if k in value}
    return value


# --- multipart/mixed batches ---------------------------------------------------------------

@dataclass
class Part:
    content_id: str  # without the angle brackets
    method: str
    target: str  # path with query string
    headers: dict[str, str]  # lower-case names
    body: bytes


class BatchFormatError(ValueError):
    pass


_BLANK = re.compile(r"\r?\n\r?\n")


def boundary_of(content_type: str) -> str:
    m = re.search(r'boundary="?([^";]+)"?', content_type or "")
    if not content_type.lower().startswith("multipart/mixed") or not m:
        raise BatchFormatError("batch requests must be multipart/mixed with a boundary")
    return m.group(1)


def _headers(block: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in block.splitlines():
        if ":" in line:
            name, _, value = line.partition(":")
            out[name.strip().lower()] = value.strip()
    return out


def parse_batch(body: bytes, content_type: str) -> list[Part]:
    """Split a multipart/mixed batch into its application/http parts."""
    delim = "--" + boundary_of(content_type)
    segments = body.decode("utf-8").split(delim)
    parts = []
    for seg in segments[1:]:
        if seg.startswith("--"):
            break
        seg = seg[2:] if seg.startswith("\r\n") else seg[1:] if seg.startswith("\n") else seg
        split = _BLANK.split(seg, 1)
        if len(split) != 2:
            raise BatchFormatError("a batch part has no body")
        outer = _headers(split[0])
        if "application/http" not in outer.get("content-type", ""):
            raise BatchFormatError("each batch part must be Content-Type: application/http")
        inner = _BLANK.split(split[1].rstrip("\r\n"), 1)
        head = inner[0].splitlines()
        request_line = head[0].split(" ") if head else []
        if len(request_line) < 2:
            raise BatchFormatError("a batch part has no request line")
        cid = outer.get("content-id", "").strip()
        cid = cid[1:-1] if cid.startswith("<") and cid.endswith(">") else cid
        parts.append(Part(cid, request_line[0].upper(), request_line[1], _headers("\n".join(head[1:])),
                          (inner[1] if len(inner) > 1 else "").encode()))
    return parts


def response_id(cid: str) -> str:
    """A part's Content-ID as the API answers it: `<response-` + the request's Content-ID + `>`."""
    return f"<response-{cid}>"


def batch_response(answers: list[tuple[str, Response]], boundary: str,
                   content_id: Callable[[str], str] = response_id) -> Response:
    """The multipart/mixed answer; each part's Content-ID is `content_id(request's Content-ID)`."""
    chunks = []
    for cid, resp in answers:
        ctype = resp.headers.get("Content-Type", "application/json; charset=UTF-8")
        extra = "".join(f"{k}: {v}\r\n" for k, v in resp.headers.items() if k != "Content-Type")
        chunks.append(f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: {content_id(cid)}\r\n\r\n"
                      f"HTTP/1.1 {resp.status} {HTTP_REASON.get(resp.status, 'Error')}\r\n"
                      f"Content-Type: {ctype}\r\n{extra}\r\n{resp.body.decode()}\r\n")
    chunks.append(f"--{boundary}--\r\n")
    return Response(200, "".join(chunks).encode(),
                    {"Content-Type": f"multipart/mixed; boundary={boundary}"})
