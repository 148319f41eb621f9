"""Comparing names the way a person reads them, so that safety nets fail closed.

A login that only reads like an exclude pattern must not get an account excluded (an
attacker could name an account like break-glass), and must not get it disabled either: such a near
miss is kept for review. `literal()` is the form a match counts on (canonical Unicode form, case
folded); `skeleton()` is what a name looks like: NFKC, case folding, invisible characters dropped,
and the common confusable letters and dashes mapped to their ASCII look-alikes (a small, documented
subset of Unicode's confusables table, enough for the scripts logins are written in).
"""

from __future__ import annotations

import unicodedata

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
