"""People across clouds (#25): link each person's accounts, and judge a leaver's credentials everywhere.

`[people]` names the sources of truth (`sources = ["entra", "google_workspace"]`). Their member
accounts are the people: each account of the first source is a person, and an account of a later
source joins the person it matches (by the keys below) or becomes one of its own. Every other
identity, in any provider, is then linked to a person by its keys, tried in order:

1. the mapping file (`mapping`, CSV `person,provider,identity`): explicit, and first;
2. its login when it is an address (an Entra userPrincipalName, a Google primaryEmail, an AWS IAM user
   named by an address);
3. its other addresses (`Identity.emails`: Entra mail and proxy addresses, Google aliases);
4. the values of the tags named in `tags` (AWS IAM user tags such as `email`, `owner`), in that order.

Values compare case-insensitively on their NFKC form. The first key that matches anybody decides: one
person links the identity, two or more leave it unlinked (the finding says whom it matched), none goes
on to the next key. An identity no key links is an orphan (reported only). Machine identities are never
linked.

A person has left when every one of their source accounts is disabled, suspended, archived or deleted
(`Identity.departure`, from the sources' `want_departures` and `list_deleted`). Each linked credential
elsewhere that still works is then a `leaver` finding, whatever its own activity, with the reason
"disabled in entra since 2026-11-03"; with `leavers = "disable"` and once `leaver_grace_days` have passed
it is disabled through the same plan, caps, notices, journal and restore as every other disable. A
credential used after its person left is flagged (`used_after_leaving`, risk high): the strongest sign
of a compromise a sweep can see. Exclusions, exceptions and protections win over leaving, as over
everything. When a source could not be listed completely, or when a source cannot say since when an
account is off, leavers are reported and never disabled.
"""

from __future__ import annotations

import csv
import threading
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterable, Literal

from pydantic import Field, field_validator

from sweeper.config import StrictModel, known_provider
from sweeper.errors import ConfigError
from sweeper.instances import kind_of, matches
from sweeper.model import Credential, Decision, DecisionKind, Departure, Identity, IdentityKind
from sweeper.policy import Thresholds, kept_whatever_use

LEAVER_CONTROLS = ("NIST 800-53 AC-2(3)(b)", "SOC 2 CC6.2", "ISO 27001 A.5.18")
_KEEP = (DecisionKind.EXCLUDED, DecisionKind.PROTECTED, DecisionKind.REPORT, DecisionKind.REMOVE,
         DecisionKind.ALREADY_DISABLED)
_SEVERITY = {k: n for n, k in enumerate((DecisionKind.ACTIVE, DecisionKind.ALREADY_DISABLED, DecisionKind.EXCLUDED,
                                         DecisionKind.PROTECTED, DecisionKind.ORPHAN, DecisionKind.UNKNOWN,
                                         DecisionKind.REPORT, DecisionKind.WARN, DecisionKind.LEAVER,
                                         DecisionKind.DISABLE, DecisionKind.REMOVE))}


class PeopleSettings(StrictModel):
    """`[people]`: which providers are the sources of truth for people, and what happens to leavers."""

    sources: list[str] = Field(min_length=1)  # provider kinds or instances (`entra`, `google_workspace:eu`)
    leaver_grace_days: int = Field(7, ge=0, le=365)
    leavers: Literal["report", "disable"] = "report"
    tags: list[str] = Field(default_factory=lambda: ["email", "owner"])  # identity tags whose values link
    mapping: str | None = None  # CSV person,provider,identity (relative to the config's folder)
    orphans: bool = True  # list identities that belong to nobody (report only)
    audit_lookback_days: int = Field(30, ge=1, le=400)  # how far back sources read when accounts went off

    @field_validator("sources")
    @classmethod
    def _known(cls, sources: list[str]) -> list[str]:
        for name in sources:
            known_provider(name)
        if len(set(sources)) != len(sources):
            raise ValueError("a source is named twice")
        return sources

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: list[str]) -> list[str]:
        if any(not t.strip() for t in tags):
            raise ValueError("a tag name is empty")
        return tags


def norm(value: str) -> str:
    """How link keys compare: NFKC, trimmed, case-folded (ASCII, the usual case: trimmed and lowered,
    which is the same)."""
    if value.isascii():
        trimmed = value.strip()
        lowered = trimmed.lower()
        return trimmed if lowered == trimmed else lowered  # the login's own string when it is already lower case
    return unicodedata.normalize("NFKC", value).strip().casefold()


def load_mapping(path: Path, shown: str) -> dict[tuple[str, str], str]:
    """The mapping file: (provider, normalised identity login or id) -> person. A row naming an identity
    twice for two people is an error naming both lines; so is a row that is not three columns."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as err:
        raise ConfigError(f"people mapping file cannot be read: {err.strerror or err}", path=shown,
                          key="people.mapping") from None
    except UnicodeDecodeError:
        raise ConfigError("people mapping file is not UTF-8 text", path=shown, key="people.mapping") from None
    found: dict[tuple[str, str], tuple[str, int]] = {}
    for line, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if [c.strip().casefold() for c in row] == ["person", "provider", "identity"]:
            continue
        if len(row) != 3 or not all(c.strip() for c in row):
            raise ConfigError(f"line {line}: expected three columns person,provider,identity, got {row!r}",
                              path=shown, key="people.mapping")
        person, provider, identity = (c.strip() for c in row)
        try:
            known_provider(provider)
        except ValueError as err:
            raise ConfigError(f"line {line}: {err}", path=shown, key="people.mapping") from None
        key = (provider, norm(identity))
        if key in found and norm(found[key][0]) != norm(person):
            raise ConfigError(f"line {line}: {provider} {identity!r} is mapped to {person!r} here and to "
                              f"{found[key][0]!r} on line {found[key][1]}", path=shown, key="people.mapping")
        found[key] = (person, line)
    return {k: v[0] for k, v in found.items()}


class Anchor:
    """A source account, kept compact: who it is, whether and since when it is off. One per source account
    (a sweep of 100,000 people in two sources keeps 200,000): a plain slotted class, no dataclass machinery."""

    __slots__ = ("provider", "scope", "login", "keys", "departure", "order", "last_used", "decision")

    def __init__(self, provider: str, scope: str, login: str, keys: tuple[str, ...], departure: Departure | None,
                 order: int, last_used: datetime | None = None, decision: str = "active") -> None:
        self.provider, self.scope, self.login, self.keys = provider, scope, login, keys  # keys: dropped once indexed
        self.departure, self.order, self.last_used, self.decision = departure, order, last_used, decision


@dataclass(slots=True)
class Account:
    """A linked identity in the people view: where, who, last use, and the strongest decision on it."""

    provider: str
    scope: str
    login: str
    last_used: datetime | None
    decision: str
    used_after_leaving: bool = False


class Person:
    """One person: made from source accounts. Only what the report can show is kept: the source accounts
    that are off or have a finding (`anchors`), the other accounts with something to know (`accounts`);
    a source account in use is only counted (`active`), so that 100,000 people stay light."""

    __slots__ = ("id", "anchors", "accounts", "left", "orders", "active")

    def __init__(self, id: str) -> None:
        self.id = id
        self.anchors: list[Anchor] | None = None  # its source accounts that are off or have a finding
        self.accounts: list[Account] | None = None  # its other linked identities with something to know
        self.left: Leave | None = None
        self.orders = 0  # a bit per source holding one of its accounts (two accounts of one source: two people)
        self.active = False  # one of its source accounts is in use: it has not left


@dataclass(frozen=True, slots=True)
class Leave:
    """When a person left: the latest of their source accounts' departures."""

    text: str  # "disabled in entra since 2026-11-03"
    since: datetime | None  # None: a source could not say when
    before: bool = False

    def past(self, now: datetime, grace_days: int) -> bool:
        return self.since is not None and now - self.since >= timedelta(days=grace_days)


class Link:
    """How one identity relates to the people: its person, or why it has none (one per identity judged:
    a plain slotted class)."""

    __slots__ = ("person", "how", "why_not", "anchor")

    def __init__(self, person: Person | None, how: str = "", why_not: str | None = None, anchor: bool = False):
        self.person = person
        self.how = how  # the key that linked it ("tag email", "login", "mapping")
        self.why_not = why_not  # unlinked: no key matched, or a key matched several people
        self.anchor = anchor  # one of the person's own source accounts


class Linker:
    """Links identities to people for one sweep. Sources are recorded first (`add_anchor`, from the
    listing threads), `build()` makes the people, then `link` and `judge` serve every identity."""

    def __init__(self, settings: PeopleSettings, as_of: datetime, mapping: dict[tuple[str, str], str] | None = None):
        self.settings = settings
        self.as_of = as_of
        self.mapping = mapping or {}
        self.tags = [norm(t) for t in settings.tags]
        self._tag_rank = {t: n for n, t in reversed(list(enumerate(self.tags)))}  # tag name -> its place in `tags`
        self._tag_how = [f"tag {t}" for t in self.tags]
        self._lock = threading.Lock()
        # per (source order, provider, scope): each source account, as an Anchor when it is off or has a finding,
        # else as its login alone (when that is its only key) or (login, keys)
        self._groups: dict[tuple[int, str, str], list[Any]] = {}
        self._packed: dict[tuple[int, str, str], bytearray] = {}  # logins that are their only key, NUL-ended
        self._orders: dict[str, int | None] = {}
        self._index: dict[str, Person] = {}  # a link key -> the one person it belongs to
        self._twice: dict[str, list[Person]] = {}  # a link key several people have
        self.people: list[Person] = []
        self.built = False
        self.incomplete: list[str] = []  # sources not listed completely: leavers are only reported
        self.orphans = 0
        self.ambiguous = 0
        self.used_after = 0

    # -- sources -----------------------------------------------------------------------------

    def source_order(self, provider: str) -> int | None:
        """The place of `provider` (an instance name) in `sources`, or None when it is not a source."""
        try:
            return self._orders[provider]
        except KeyError:
            found = next((n for n, source in enumerate(self.settings.sources) if matches(provider, [source])), None)
            self._orders[provider] = found
            return found

    def is_anchor(self, identity: Identity) -> bool:
        return identity.kind is IdentityKind.MEMBER and self.source_order(identity.provider) is not None

    def add_anchor(self, identity: Identity, decided: list[tuple[Credential, Decision]] | str = "active") -> None:
        """Record a source account (from a listing thread): its keys, its departure, its last use and the
        strongest decision on its credentials (or a word for it: "deleted")."""
        decision = decided if isinstance(decided, str) else _worst(decided).value
        order = self.source_order(identity.provider)
        assert order is not None
        departure = identity.departure
        if departure is None and not identity.enabled:  # a source that does not say since when
            departure = Departure("disabled", None, note="this provider does not say since when")
        used = None
        if departure is not None or decision not in ("active", "already_disabled"):  # shown in the people view
            used = max((c.last_used for c in identity.credentials if c.last_used), default=None)
        found = self._keys(identity)
        keys = tuple(dict.fromkeys(k for _, k in found))
        group_key = (order, identity.provider, identity.scope)
        group = self._groups.get(group_key)
        if group is None:
            group = self._groups.setdefault(group_key, [])
        login = identity.login
        if departure is None and decision == "active" and keys == (login,) and "\0" not in login:
            # the usual source account, whose login is its only key: packed into its group's bytes, no object of
            # its own (100,000 small strings kept across the listing would pin the memory the listing used)
            packed = self._packed.get(group_key)
            if packed is None:
                packed = self._packed.setdefault(group_key, bytearray())
            packed += login.encode("utf-8", "surrogatepass") + b"\0"  # one C call under the GIL: atomic
        elif departure is None and decision == "active":
            group.append((login, keys))  # list.append: atomic
        else:
            group.append(Anchor(identity.provider, identity.scope, login, keys, departure, order, used, decision))

    def source_failed(self, provider: str, scope: str, why: str) -> None:
        with self._lock:
            self.incomplete.append(f"{provider} {scope}".strip() + f" ({why})")

    # -- keys --------------------------------------------------------------------------------

    def _keys(self, identity: Identity) -> list[tuple[str, str]]:
        """(how, key) in the order they are tried."""
        out = []
        if self.mapping:
            person = self._mapped(identity)
            if person is not None:
                out.append(("mapping", person))
        login = identity.login
        if "@" in login:
            out.append(("login", norm(login)))
        for email in identity.emails:
            out.append(("address", norm(email)))
        tags = identity.tags
        if self._tag_rank and tags:
            exact = [(rank, tags[t]) for rank, t in enumerate(self.tags) if t in tags]  # tag names as configured
            if len(exact) != len(tags):  # other tags: any of them written in another case or form?
                exact = [(rank, value) for name, value in tags.items()
                         if (rank := self._tag_rank.get(norm(name))) is not None]
            for rank, value in sorted(exact):
                if value and value.strip():
                    out.append((self._tag_how[rank], norm(value)))
        return out

    def _mapped(self, identity: Identity) -> str | None:
        for name in (identity.provider, kind_of(identity.provider)):
            for value in (identity.login, identity.id):
                person = self.mapping.get((name, norm(value)))
                if person is not None:
                    return norm(person)
        return None

    # -- people ------------------------------------------------------------------------------

    def build(self) -> None:
        """Make the people from the source accounts: each account of the first source is one, an account
        of a later source joins the one person it matches (by its first key that matches anybody) or is
        a person of its own; then index every key of every source account."""
        index, twice = self._index, self._twice
        for group in sorted(set(self._groups) | set(self._packed)):
            packed = self._packed.pop(group, None)
            logins: list[Any] = packed.decode("utf-8", "surrogatepass").split("\0")[:-1] if packed else []
            for anchor in sorted([*logins, *self._groups.get(group, ())], key=_login):
                self._place(group[0], anchor, index, twice)
        self._groups = {}
        for person in self.people:
            person.left = None if person.active else self._left(person)
        self.built = True

    def _place(self, order: int, anchor: Any, index: dict[str, Person], twice: dict[str, list[Person]]) -> None:
        """One source account into the people: joins the person its first known key names, or is one."""
        if isinstance(anchor, Anchor):
            login, keys, kept = anchor.login, anchor.keys, anchor
        elif isinstance(anchor, str):
            login, keys, kept = anchor, (anchor,), None
        else:
            login, keys, kept = anchor[0], anchor[1], None
        person = None
        for key in keys:
            if key in twice:
                break  # matches several people already: this account is a person of its own
            person = index.get(key)
            if person is not None:
                break
        if person is None or person.orders & (1 << order):
            person = Person(login)  # two accounts of one source are two people
            self.people.append(person)
        person.orders |= 1 << order
        if kept is None:
            person.active = True
        else:
            if person.anchors is None:
                person.anchors = []
            person.anchors.append(kept)
            kept.keys = ()
        for key in keys:
            held = index.get(key)
            if key in twice:
                if all(p is not person for p in twice[key]):
                    twice[key].append(person)
            elif held is None:
                index[key] = person
            elif held is not person:
                twice[key] = [held, person]
                del index[key]

    def _left(self, person: Person) -> Leave | None:
        if not person.anchors or any(a.departure is None for a in person.anchors):
            return None  # no source account, or one in use
        off = [(a, a.departure) for a in person.anchors if a.departure is not None]
        unknown = [(a, d) for a, d in off if d.since is None]
        dated = [(a, d, d.since) for a, d in off if d.since is not None]
        if unknown:
            latest, departure = unknown[0]
        else:
            latest, departure, _ = max(dated, key=lambda x: x[2])
        text = f"{departure.state} in {latest.provider} {departure.since_text}"
        return Leave(text, departure.since, departure.before)

    def link(self, identity: Identity) -> Link | None:
        """The identity's person, or why it has none; None for machine identities (never linked)."""
        if identity.kind is IdentityKind.SERVICE:
            return None
        tried = []
        for how, key in self._keys(identity):
            person = self._index.get(key)
            if person is None:
                several = self._twice.get(key)
                if several:
                    names = ", ".join(sorted(p.id for p in several)[:3])
                    return Link(None, how, f"its {how} matches {len(several)} people ({names}): not linked")
                if how == "mapping":  # a person named only in the mapping file: linked, no source account
                    return Link(self._named(key), how)
                tried.append(how)
                continue
            return Link(person, how, anchor=self.is_anchor(identity))  # a source's member is its own person's
        why = (f"no person has its {', '.join(dict.fromkeys(tried))}" if tried
               else "nothing links it to a person (no address login, address, mapped row or tag "
                    f"{' or '.join(self.settings.tags) or 'named in people.tags'})")
        return Link(None, "", why)

    def _named(self, key: str) -> Person:
        with self._lock:
            found = self._index.get(key)
            if found is None:
                found = self._index[key] = Person(key)
                self.people.append(found)
            return found

    # -- judging -----------------------------------------------------------------------------

    def judge(self, link: Link | None, identity: Identity, credential: Credential, decision: Decision,
              t: Thresholds) -> Decision:
        """The decision on one credential once its person is known: a leaver's credential that still
        works is a `leaver` finding (or a disable, with `leavers = "disable"` past the grace)."""
        if link is None or link.person is None:
            return decision
        leave = link.person.left
        if leave is None or link.anchor or decision.kind is DecisionKind.ALREADY_DISABLED:
            # only findings name their person: an identity in use stays the shared "in use" decision
            return replace(decision, person=link.person.id) if decision.kind.is_finding else decision
        decision = replace(decision, person=link.person.id)
        used = credential.last_used
        after = used is not None and leave.since is not None and used > leave.since
        what = (f"used on {used.date().isoformat()}, after its person left ({leave.text})" if after and used
                else f"its person left: {leave.text}")
        if decision.kind in (DecisionKind.ACTIVE, DecisionKind.UNKNOWN):  # judged by use: not yet by what holds it
            held = kept_whatever_use(identity, credential, t, self.as_of)
            if held is not None:
                return replace(decision, kind=held[0], reason=f"{what}; {held[1]}", leaver=leave.text,
                               used_after_leaving=after, risk="high" if after else "medium")
        if decision.kind in _KEEP or decision.notify_only:
            return replace(decision, reason=f"{decision.reason}; {what}", leaver=leave.text, used_after_leaving=after,
                           risk="high" if after else decision.risk)
        why_kept = self._why_kept(leave)
        if why_kept is None:
            kind = DecisionKind.DISABLE
            reason = f"{what}; leavers = disable: disabled" + (f" ({decision.reason})" if decision.kind
                                                               is DecisionKind.DISABLE else "")
        elif decision.kind is DecisionKind.DISABLE:  # stale anyway: leaving never lessens what is done
            return replace(decision, reason=f"{decision.reason}; {what}", leaver=leave.text, used_after_leaving=after,
                           risk="high" if after else decision.risk)
        else:
            kind, reason = DecisionKind.LEAVER, f"{what}; {why_kept}"
        return replace(decision, kind=kind, reason=reason, risk="high", leaver=leave.text, used_after_leaving=after,
                       controls=tuple(dict.fromkeys((*LEAVER_CONTROLS, *decision.controls))))

    def _why_kept(self, leave: Leave) -> str | None:
        """Why a leaver's credential is only reported, or None when it is to be disabled."""
        s = self.settings
        if s.leavers != "disable":
            return "reported only (people.leavers = report)"
        if self.incomplete:
            return f"reported only: a source was not listed completely ({'; '.join(self.incomplete[:2])})"
        if leave.since is None:
            return "reported only: when the person left is not known"
        if not leave.past(self.as_of, s.leaver_grace_days):
            until = (leave.since + timedelta(days=s.leaver_grace_days)).date().isoformat()
            return f"in the {s.leaver_grace_days}-day leaver grace (people.leaver_grace_days) until {until}"
        return None

    def orphan(self, link: Link | None, identity: Identity) -> Decision | None:
        """An `orphan` decision for an enabled identity no key links, or None."""
        if link is None or link.person is not None or not identity.enabled:
            return None
        with self._lock:
            self.ambiguous += bool(link.how)  # unlinked by a key that matched several people
            self.orphans += 1
        if not self.settings.orphans:
            return None
        return Decision(DecisionKind.ORPHAN, f"belongs to no person: {link.why_not}", 0, risk="low")

    def account(self, link: Link | None, identity: Identity, decisions: list[tuple[Credential, Decision]]) -> None:
        """Record a linked identity in its person's view (a source account already has its anchor): the
        accounts of a person who left, and those with a finding; not every account of everyone."""
        if link is None or link.person is None or link.anchor:
            return
        worst = _worst(decisions)
        if link.person.left is None and not worst.is_finding:  # nothing to know of: not kept (memory)
            return
        used = max((c.last_used for c, _ in decisions if c.last_used), default=None)
        after = any(d.used_after_leaving for _, d in decisions)
        entry = Account(identity.provider, identity.scope, identity.login, used, worst.value, after)
        with self._lock:
            if link.person.accounts is None:
                link.person.accounts = []
            link.person.accounts.append(entry)
            self.used_after += after

    # -- the report's view --------------------------------------------------------------------

    def view(self) -> dict[str, Any]:
        """`people` in the JSON report: counts, and every person with something to act on or know (a
        leaver, or an account with a finding), each with their accounts per provider."""
        shown = []
        for person in sorted(self.people, key=lambda p: p.id):
            others = person.accounts or []
            anchors = person.anchors or []
            findings = (any(a.decision not in ("active", "already_disabled", "deleted") for a in anchors)
                        or any(a.decision not in ("active", "already_disabled") for a in others))
            if person.left is None and not findings:
                continue
            accounts = [{"provider": a.provider, "scope": a.scope, "identity": a.login, "source": True,
                         "state": a.departure.state if a.departure else "active",
                         **({"since": _day(a.departure.since)} if a.departure and a.departure.since else {}),
                         "last_used": _day(a.last_used), "decision": a.decision} for a in anchors]
            accounts += [{"provider": a.provider, "scope": a.scope, "identity": a.login, "source": False,
                          "last_used": _day(a.last_used), "decision": a.decision,
                          **({"used_after_leaving": True} if a.used_after_leaving else {})} for a in others]
            shown.append({"person": person.id, "left": person.left.text if person.left else None,
                          "accounts": sorted(accounts, key=lambda a: (a["provider"], a["scope"], a["identity"]))})
        leavers = sum(p.left is not None for p in self.people)
        return {"sources": list(self.settings.sources), "leavers_action": self.settings.leavers,
                "counts": {"people": len(self.people), "leavers": leavers, "used_after_leaving": self.used_after,
                           "orphans": self.orphans, "ambiguous": self.ambiguous},
                **({"incomplete": list(self.incomplete)} if self.incomplete else {}),
                "people": shown}


def _login(anchor: Any) -> str:
    """The login of a source account as `Linker._groups` holds it."""
    return anchor.login if isinstance(anchor, Anchor) else anchor if isinstance(anchor, str) else anchor[0]


def _worst(decided: list[tuple[Credential, Decision]]) -> DecisionKind:
    if len(decided) == 1:
        return decided[0][1].kind
    return max((d.kind for _, d in decided), key=lambda k: _SEVERITY.get(k, 0), default=DecisionKind.ACTIVE)


def _day(when: datetime | None) -> str | None:
    return when.date().isoformat() if when else None


def for_run(config: Any, providers: Iterable[str], as_of: datetime) -> tuple[Linker | None, str | None]:
    """The run's linker from `[people]`, or None and why not: a run that does not sweep every configured
    source (`-p aws`) links nobody, since people made from part of the sources would make false leavers
    and orphans. The mapping file is read now (ConfigError naming it)."""
    settings = config.people
    chosen = list(providers)
    missing = [name for name in config.providers if any(matches(name, [s]) for s in settings.sources)
               and name not in chosen]
    if missing:
        return None, (f"people are not linked in this run: the source(s) {', '.join(missing)} of [people] are not "
                      "swept in it (-p): no leaver or orphan is judged")
    return linker(config, as_of), None


def linker(config: Any, as_of: datetime) -> Linker | None:
    """The run's linker from `[people]`, or None without it; the mapping file is read now (ConfigError)."""
    settings = getattr(config, "people", None)
    if settings is None:
        return None
    return Linker(settings, as_of, mapping_of(config))


def mapping_of(config: Any) -> dict[tuple[str, str], str]:
    """`[people] mapping` read (relative to the config's folder), or {} without one (ConfigError)."""
    name = config.people.mapping
    if not name:
        return {}
    path = Path(name)
    return load_mapping(path if path.is_absolute() else Path(config.path).resolve().parent / path, name)


def review(config: Any) -> list[tuple[str, bool | None, str]]:
    """What `sweeper check` says about `[people]`: the mapping file read, and for each source whether it
    can say since when its accounts are off and list its deleted ones (without, its leavers are only
    reported, or not known when deleted). (check, ok, detail) each; ok None: to review."""
    from sweeper import registry

    settings = getattr(config, "people", None)
    if settings is None:
        return []
    out: list[tuple[str, bool | None, str]] = []
    try:
        rows = len(mapping_of(config))
        out.append(("people mapping", True, f"{rows} row(s) from {settings.mapping}" if settings.mapping else
                    "no mapping file: linked by addresses and tags only"))
    except ConfigError as err:
        out.append(("people mapping", False, str(err)))
    for source in settings.sources:
        cls = registry.adapter_class(source)
        dated = callable(getattr(cls, "want_departures", None))
        deleted = callable(getattr(cls, "list_deleted", None))
        detail = ("says since when accounts are off, and lists deleted ones" if dated and deleted else
                  "; ".join(w for w, missing in (("cannot say since when its accounts are off: its leavers are only "
                                                  "reported", not dated),
                                                 ("lists no deleted accounts", not deleted)) if missing))
        out.append((f"people source {source}", True if dated and deleted else None, detail))
    return out
