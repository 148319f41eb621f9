"""Scenarios for the AWS emulator: the cases the hand-written scripts get wrong, and bulk accounts.

All dates are relative to `now`, so a sweep `--as-of now` judges them the same way every time.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

MANAGEMENT = "111111111111"
MEMBER = "222222222222"
UNASSUMABLE = "333333333333"
SUSPENDED = "444444444444"
LISTED = "555555555555"  # a second listed account (`listed_accounts`), outside any organization
DEFAULT_NOW = datetime(2025, 6, 1, tzinfo=timezone.utc)


def _ago(now: datetime, **delta: float) -> str:
    return (now - timedelta(**delta)).isoformat()


def basic(now: datetime = DEFAULT_NOW) -> dict[str, Any]:
    """One account: a user for each rule (see the names), the sweeper's own user, a root row."""
    def key(created: dict[str, float], used: dict[str, float] | None, status: str = "Active",
            **extra: Any) -> dict[str, Any]:
        return {"created": _ago(now, **created), "last_used": _ago(now, **used) if used else None,
                "status": status, **extra}

    def pw(created: dict[str, float], used: dict[str, float] | None) -> dict[str, Any]:
        return {"created": _ago(now, **created), "last_used": _ago(now, **used) if used else None}

    old = _ago(now, days=900)
    users = [
        {"name": "sweeper-bot", "created": old, "keys": [key({"days": 30}, {"minutes": 5}, caller=True)]},
        {"name": "mixed-keys", "created": old,  # one key in daily use, the other stale
         "keys": [key({"days": 800}, {"days": 1}), key({"days": 700}, {"days": 400})]},
        {"name": "key-never-old", "created": old, "keys": [key({"days": 300}, None)]},
        {"name": "key-never-new", "created": old, "keys": [key({"hours": 1}, None)]},
        {"name": "key-inactive", "created": old, "keys": [key({"days": 600}, {"days": 500}, "Inactive")]},
        {"name": "console-stale", "created": old, "password": pw({"days": 800}, {"days": 200})},
        {"name": "console-recent", "created": old, "password": pw({"days": 800}, {"days": 3})},
        {"name": "console-never-old", "created": old, "password": pw({"days": 400}, None)},
        {"name": "console-never-new", "created": old, "password": pw({"days": 2}, None)},
        {"name": "console-reset", "created": old, "password": pw({"days": 5}, {"days": 700})},
        {"name": "exempt-tagged", "created": old, "tags": {"sweeper:exempt": "true", "team": "ops"},
         "keys": [key({"days": 700}, {"days": 600})]},
        {"name": "no-credentials", "created": old},
    ]
    return {"accounts": {MANAGEMENT: {"root": {"created": "2015-01-01T00:00:00+00:00",
                                               "password_last_used": _ago(now, days=40)},
                                      "users": users}}}


def with_twin_keys(now: datetime = DEFAULT_NOW) -> dict[str, Any]:
    """`basic` plus a user whose two never-used keys were made a second apart (the report truncates
    times to the second): each must be judged once, under its own id."""
    scenario = basic(now)
    made = now - timedelta(days=500)
    scenario["accounts"][MANAGEMENT]["users"].append({"name": "twin-keys", "created": _ago(now, days=900), "keys": [
        {"created": (made + timedelta(seconds=56.08)).isoformat(), "last_used": None},  # report: :56
        {"created": (made + timedelta(seconds=57.29)).isoformat(), "last_used": None}]})  # report: :57
    return scenario


def organization(now: datetime = DEFAULT_NOW) -> dict[str, Any]:
    """`basic` as the management account, one member with users, one member that cannot be assumed."""
    scenario = basic(now)
    scenario["accounts"][MEMBER] = {"users": [
        {"name": f"member-user-{i}", "created": _ago(now, days=500),
         "keys": [{"created": _ago(now, days=400), "last_used": _ago(now, days=i * 50)}]}
        for i in range(1, 4)]}
    scenario["accounts"][UNASSUMABLE] = {"users": [{"name": "hidden", "created": _ago(now, days=10)}]}
    scenario["organization"] = {"management": MANAGEMENT, "members": [MEMBER, UNASSUMABLE],
                                "suspended": [SUSPENDED], "unassumable": [UNASSUMABLE]}
    return scenario


def listed_accounts(now: datetime = DEFAULT_NOW) -> dict[str, Any]:
    """`basic` as the caller's account, and no organization: MEMBER and LISTED with users of their own
    (a stale key and a fresh one each), UNASSUMABLE whose role cannot be assumed."""
    scenario = basic(now)
    for account, prefix in ((MEMBER, "member"), (LISTED, "listed")):
        scenario["accounts"][account] = {"users": [
            {"name": f"{prefix}-stale", "created": _ago(now, days=500),
             "keys": [{"created": _ago(now, days=400), "last_used": _ago(now, days=200)}]},
            {"name": f"{prefix}-fresh", "created": _ago(now, days=500),
             "keys": [{"created": _ago(now, days=400), "last_used": _ago(now, days=2)}]}]}
    scenario["accounts"][UNASSUMABLE] = {"users": [{"name": "hidden", "created": _ago(now, days=10)}]}
    scenario["unassumable"] = [UNASSUMABLE]
    return scenario


def bulk(users: int, now: datetime = DEFAULT_NOW, account: str = MANAGEMENT) -> dict[str, Any]:
    """One account with `users` users cycling through passwords and keys of varied age and use."""
    made = []
    for i in range(users):
        spec: dict[str, Any] = {"name": f"user-{i:06d}", "created": _ago(now, days=1000)}
        if i % 3 == 0:
            spec["password"] = {"created": _ago(now, days=900), "last_used": _ago(now, days=i % 400)}
        if i % 2 == 0:
            used = None if i % 10 == 0 else _ago(now, days=i % 365)
            spec["keys"] = [{"created": _ago(now, days=800), "last_used": used}]
        made.append(spec)
    made[0]["keys"] = [{"created": _ago(now, days=30), "last_used": _ago(now, minutes=1), "caller": True}]
    return {"accounts": {account: {"users": made}}}


VENDOR = "999988887777"  # an account outside the organization that a forgotten role still trusts
ALLOW_READS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}


def with_roles(now: datetime = DEFAULT_NOW) -> dict[str, Any]:
    """`basic` plus a role for each role rule (see the names); RoleLastUsed never older than IAM's 400 days."""
    scenario = basic(now)
    old = _ago(now, days=900)
    scenario["accounts"][MANAGEMENT]["roles"] = [
        {"name": "role-recent", "created": old, "last_used": _ago(now, days=3)},
        {"name": "vendor-audit", "created": old, "last_used": _ago(now, days=200),  # stale, trusts a vendor
         "trust": {"AWS": f"arn:aws:iam::{VENDOR}:root"}, "tags": {"owner": "secops@example.com", "team": "sec"}},
        {"name": "role-never-old", "created": _ago(now, days=300), "last_used": None},
        {"name": "role-never-new", "created": _ago(now, days=10), "last_used": None},
        {"name": "role-exempt", "created": old, "last_used": _ago(now, days=300), "tags": {"sweeper:exempt": "true"}},
        {"name": "role-denied", "created": old, "last_used": None, "denied": True},  # denied by an earlier run
        {"name": "role-two-policies", "created": old, "last_used": _ago(now, days=250),
         "policies": {"app-reads": ALLOW_READS}},
        {"name": "role-foreign-policy", "created": old, "last_used": _ago(now, days=250),  # a policy of our name
         "policies": {"identity-sweeper-disabled": ALLOW_READS}},
        {"name": "AWSReservedSSO_Admin_0123456789abcdef", "path": "/aws-reserved/sso.amazonaws.com/",
         "created": old, "last_used": _ago(now, days=300)},
        {"name": "IdentitySweeper", "created": old, "last_used": _ago(now, days=200)},  # the member role's name
        {"service": "autoscaling.amazonaws.com", "created": old, "last_used": None},
        {"service": "elasticbeanstalk.amazonaws.com", "created": old, "last_used": _ago(now, days=380)},
    ]
    return scenario


def bulk_roles(roles: int, now: datetime = DEFAULT_NOW, account: str = MANAGEMENT) -> dict[str, Any]:
    """`bulk(10)` plus `roles` roles of varied last use (every 7th never used)."""
    scenario = bulk(10, now, account)
    scenario["accounts"][account]["roles"] = [
        {"name": f"role-{i:06d}", "created": _ago(now, days=500),
         "last_used": None if i % 7 == 0 else _ago(now, days=i % 380)} for i in range(roles)]
    return scenario
