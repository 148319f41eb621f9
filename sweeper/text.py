"""Strings from providers and the config: compared as a person reads them, shown as data.

Comparing. A login that only reads like an exclude pattern must not get an account excluded (an
attacker could name an account like break-glass), and must not get it disabled either: such a near
miss is kept for review. `literal()` is the form a match counts on (canonical Unicode form, case
folded); `skeleton()` is what a name looks like: NFKC, case folding, invisible characters dropped,
and the common confusable letters and dashes mapped to their ASCII look-alikes (a small, documented
subset of Unicode's confusables table, enough for the scripts logins are written in).

Showing (design.md §9: one escaping rule per format, in one place). Every string a provider or the
config hands us is data in every output; the JSON report alone keeps the exact value:

- `printable()`, for terminals and plain text: characters Python does not call printable (control
  characters such as ESC and NUL, format characters such as right-to-left overrides and zero-width
  joiners, lone surrogates, private-use and unassigned code points, separators other than the
  space) are shown as escapes (`\\x1b`, `\\u202e`), and a value longer than `SHOWN_CHARS` is cut
  with its length shown;
- `terminal()`: that, as a rich `Text`, which rich never reads as markup or emoji codes;
- `markdown()`: that, with what Markdown and HTML would interpret escaped (backslash, backtick,
  `*`, `~`, `$`, `[`, `]`, `|`, `_` at a word's edge; `&`, `<`, `>` as entities);
- `csv_cell()`: that, with a cell that a spreadsheet would read as a formula (one starting with
  `=`, `+`, `-`, `@`, tab or carriage return, or their full-width forms) prefixed with `'`, as OWASP
  recommends;
- `html()`: that, HTML-escaped (markupsafe) for an element's text or an attribute's value; the HTML
  report's template escapes everything through jinja2's autoescape, and its findings table is built
  from `script_json()`: JSON that ends no `<script>` block and opens no comment (`<`, `>`, `&`, U+2028
  and U+2029 written as `\\u` escapes), shown by the page's script as text only.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from markupsafe import Markup
    from rich.text import Text

# Look-alikes of ASCII letters and of the hyphen, mapped to what they look like. Case is folded first.
_CONFUSABLES = str.maketrans({
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
    "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d", "һ": "h", "ԛ": "q",
    "ԝ": "w", "ɡ": "g",
    # Greek
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t",
    "υ": "u", "χ": "x", "ω": "w",
    # Latin look-alikes and symbols
    "ı": "i", "ℓ": "l",
    # dashes and minus signs
    "‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-", "―": "-", "−": "-", "﹣": "-", "－": "-", "⁃": "-",
    # look-alike dots, at signs and underscores
    "․": ".", "。": ".", "＠": "@", "﹫": "@", "＿": "_",
})
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"), None)


def literal(name: str) -> str:
    """The form a literal match counts on: canonical composition (an accent is the same however it
    is encoded) and case folding; nothing else is folded."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())


def unencodable(name: str) -> str | None:
    """The first lone surrogate in `name` (what a JSON `\\ud800` decodes to), which no UTF-8 file,
    database or request can hold, or None when there is none."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError as err:
        return name[err.start]
    return None


def skeleton(name: str) -> str:
    """What `name` looks like: NFKC, case-folded, invisible characters dropped, confusables mapped."""
    folded = unicodedata.normalize("NFKC", name).casefold().translate(_INVISIBLE)
    # decompose accents the same way however they were encoded, then recompose
    return unicodedata.normalize("NFC", folded.translate(_CONFUSABLES))


def scripts(name: str) -> set[str]:
    """The scripts of the letters in `name` (LATIN, CYRILLIC, GREEK, ...); digits and symbols have none."""
    found = set()
    for ch in name:
        if ch.isalpha():
            try:
                found.add(unicodedata.name(ch).split(" ", 1)[0])
            except ValueError:
                found.add("UNKNOWN")
    return found


def mixed_scripts(name: str) -> bool:
    """Whether a name mixes letters of several scripts (a sign of a look-alike)."""
    return len(scripts(name)) > 1


# -- showing ------------------------------------------------------------------------------------

SHOWN_CHARS = 500  # characters of one value shown in a table, Markdown or CSV cell (the JSON keeps all)
MESSAGE_CHARS = 4000  # ... in a message (an error, a warning) on the terminal
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(ch: str) -> str:
    n = ord(ch)
    return _NAMED.get(ch) or (f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}")


def cut(value: str, limit: int | None = SHOWN_CHARS) -> str:
    """`value`, or its first `limit` characters and its length when it is longer."""
    if limit is None or len(value) <= limit:
        return value
    return f"{value[:limit]}… ({len(value)} characters in all)"


def printable(value: object, limit: int | None = SHOWN_CHARS, *, newlines: bool = False) -> str:
    """`value` as text safe to show anywhere: cut to `limit` characters (None: whole), and every
    character that is not printable shown as an escape; `newlines` keeps line breaks (a message of
    several lines that we wrote, whose values were escaped already)."""
    text = cut("" if value is None else str(value), limit)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or newlines and ch == "\n" else _escape(ch) for ch in text)


def terminal(value: object, style: str = "", limit: int | None = SHOWN_CHARS) -> Text:
    """`value` for a rich table or message: printable, and never read as markup or emoji codes."""
    from rich.text import Text

    return Text(printable(value, limit), style=style)


_MARKDOWN = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;",
                           **{c: "\\" + c for c in "\\`*~$[]|"}})
# underscores emphasise only at a word's edge: `google_workspace` stays as it is, `_x_` is escaped
_EDGE_UNDERSCORES = re.compile(r"(?<!_)(?:(?<![^\W_])_++|_++(?![^\W_]))")  # whole runs only


def markdown(value: object, limit: int | None = SHOWN_CHARS) -> str:
    """`value` for a Markdown table cell (a report, a CI step summary): printable, one line, with
    what Markdown or HTML would interpret escaped, so that it reads as the text it is."""
    text = printable(value, limit).translate(_MARKDOWN)
    return _EDGE_UNDERSCORES.sub(lambda m: "\\_" * len(m.group()), text)


_FORMULA = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def csv_cell(value: object, limit: int | None = SHOWN_CHARS) -> object:
    """A CSV cell: a string printable and never read as a formula by a spreadsheet (a leading `'`,
    OWASP's rule for cells starting with `=`, `+`, `-`, `@`, tab or carriage return); other values
    (numbers, None) as they are."""
    if not isinstance(value, str):
        return value
    text = printable(value, limit)
    return f"'{text}" if value.startswith(_FORMULA) or text.startswith(_FORMULA) else text


def html(value: object, limit: int | None = SHOWN_CHARS) -> Markup:
    """`value` for HTML text or an attribute value: printable, then escaped (`&`, `<`, `>`, quotes)."""
    from markupsafe import escape

    return escape(printable(value, limit))


_SCRIPT_JSON = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
                              "\u2029": "\\u2029"})


def script_json(data: object) -> Markup:
    """`data` as compact JSON to put inside `<script type="application/json">`: nothing in it can end
    the block, start a comment or a tag, or break a line for an old JavaScript parser; a lone
    surrogate (which no UTF-8 file can hold) is written as its JSON escape."""
    import json

    from markupsafe import Markup

    text = json.dumps(data, ensure_ascii=False, separators=(",", ":")).translate(_SCRIPT_JSON)
    if unencodable(text) is not None:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return Markup(text)
