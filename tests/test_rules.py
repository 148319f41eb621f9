"""Rules for who is judged how (#26): ordered `[[rules]]`, privileged accounts, groups, `explain`, `check`.

The end-to-end cases run `sweeper` through the CLI against the Graph emulator over HTTP: a Global
Administrator inactive 50 days under a 45-day privileged rule, a group-scoped 30-day rule, rule order
and a break-glass account under every rule."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
from typer.testing import CliRunner

from providers.entra import emulator as graph_emulator
from providers.entra import scenario as graph
from sweeper.cli import app
from sweeper.config import parse
from sweeper.errors import ConfigError
from sweeper.model import Activity, Credential, CredentialKind, DecisionKind, Identity, IdentityKind
from sweeper.policy import Thresholds, evaluate
from sweeper.rules import E8_PRIVILEGED, Rule, compile_rules, problems

AS_OF = "2026-11-21"
NOW = datetime(2026, 11, 21, tzinfo=timezone.utc)
GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"
runner = CliRunner()


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


# -- the policy under rules (no provider) -------------------------------------------------------

def ident(login: str = "ann@example.com", *, days: float = 50, kind: IdentityKind = IdentityKind.MEMBER,
          **kw: Any) -> tuple[Identity, Credential]:
    cred = Credential(CredentialKind.ACCOUNT, login, True, Activity.SEEN, ago(900), ago(days))
    return Identity("fake", "t", login, login, kind, True, (cred,), ago(900), **kw), cred


def thresholds(*rules: dict[str, Any], **kw: Any) -> Thresholds:
    compiled = compile_rules([Rule.model_validate(r) for r in rules], "fake")
    return Thresholds(inactive_days=90, warn_days=14, provider="fake", rules=compiled, **kw)


def judge(t: Thresholds, **kw: Any):
    identity, cred = ident(**kw)
    return evaluate(identity, cred, t, NOW)


ADMIN = {"privileged": "holds a directory role", "protected_by": "holds a directory role"}


class TestPolicy:
    def test_no_rules_is_todays_policy(self) -> None:
        assert judge(thresholds(), days=50).kind is DecisionKind.ACTIVE
        d = judge(thresholds(), days=100)
        assert d.kind is DecisionKind.DISABLE and d.rule is None and "rule" not in d.reason

    def test_privileged_protected_by_default_and_reported_under_a_rule_written_for_them(self) -> None:
        assert judge(thresholds(), days=100, **ADMIN).kind is DecisionKind.PROTECTED
        t = thresholds({"name": "admins", "inactive_days": 45, "match": {"privileged": True}})
        d = judge(t, days=50, **ADMIN)
        assert d.kind is DecisionKind.REPORT and d.rule == "admins"
        assert "over the 45-day threshold for accounts under rule 'admins'" in d.reason
        assert "privileged: holds a directory role" in d.reason and "rule 'admins' (action = report)" in d.reason
        assert E8_PRIVILEGED in d.controls
        assert judge(t, days=40, **ADMIN).kind is DecisionKind.ACTIVE  # no warning for what is only reported

    def test_a_privileged_rule_disables_only_when_it_says_so(self) -> None:
        t = thresholds({"name": "admins", "inactive_days": 45, "action": "disable", "match": {"privileged": True}})
        d = judge(t, days=50, **ADMIN)
        assert d.kind is DecisionKind.DISABLE and d.rule == "admins"
        assert judge(t, days=40, **ADMIN).kind is DecisionKind.WARN

    def test_a_general_rule_leaves_privileged_identities_protected(self) -> None:
        t = thresholds({"name": "everyone", "inactive_days": 30})
        assert judge(t, days=50, **ADMIN).kind is DecisionKind.PROTECTED
        assert judge(t, days=50).kind is DecisionKind.DISABLE

    def test_other_protection_always_wins_over_a_privileged_rule(self) -> None:
        t = thresholds({"name": "admins", "inactive_days": 45, "action": "disable", "match": {"privileged": True}})
        d = judge(t, days=50, privileged="holds a directory role", protected_by="the sweeper's own identity")
        assert d.kind is DecisionKind.PROTECTED

    @pytest.mark.parametrize("action", ["disable", "report", "notify", None])
    def test_break_glass_is_kept_under_every_rule(self, action: str | None) -> None:
        rule = {"name": "admins", "inactive_days": 45, "match": {"privileged": True},
                **({"action": action} if action else {})}
        t = thresholds(rule, exclude=("breakglass-*",))
        d = judge(t, login="breakglass-1@example.com", days=400, **ADMIN)
        assert d.kind is DecisionKind.EXCLUDED and "exclude pattern 'breakglass-*'" in d.reason

    def test_first_matching_rule_applies(self) -> None:
        t = thresholds({"name": "contractors", "inactive_days": 30, "match": {"login": ["*@contractor.example"]}},
                       {"name": "strict-all", "inactive_days": 20})
        d = judge(t, login="bob@contractor.example", days=25)
        assert d.kind is DecisionKind.WARN and d.rule == "contractors" and d.threshold_days == 30
        d = judge(t, days=25)
        assert d.kind is DecisionKind.DISABLE and d.rule == "strict-all"

    def test_notify_rule_reports_and_marks_the_owner_notice(self) -> None:
        t = thresholds({"name": "auditors", "inactive_days": 30, "action": "notify", "notice_days": 7,
                        "match": {"tags": {"role": "auditor"}}})
        d = judge(t, days=31, tags={"role": "Auditor"})
        assert d.kind is DecisionKind.REPORT and d.notify_only and d.notice_days == 7
        assert "notifies its owner and disables nothing" in d.reason
        assert judge(t, days=31, tags={"role": "dev"}).kind is DecisionKind.ACTIVE

    def test_org_unit_and_guest_and_kind_conditions(self) -> None:
        t = thresholds({"name": "ou", "inactive_days": 10, "match": {"org_unit": ["/Contractors"]}},
                       {"name": "guests", "inactive_days": 20, "match": {"guest": True, "kind": ["account"]}})
        assert judge(t, days=11, org_unit="/Contractors/EMEA").rule == "ou"
        assert judge(t, days=11, org_unit="/ContractorsX").kind is DecisionKind.ACTIVE
        assert judge(t, days=21, kind=IdentityKind.GUEST).rule == "guests"


class TestConfig:
    BASE = '[providers.fake]\ncloud = "default"\n'

    def test_rules_load_in_order_and_change_the_digest(self) -> None:
        text = self.BASE + ('[[rules]]\nname = "admins"\ninactive_days = 45\naction = "report"\n'
                            '[rules.match]\nprivileged = true\n'
                            '[[rules]]\nname = "rest"\ninactive_days = 60\n')
        cfg = parse(text)
        assert [r.name for r in cfg.rules] == ["admins", "rest"] and cfg.rules[0].match.privileged is True
        assert cfg.digest != parse(self.BASE).digest

    @pytest.mark.parametrize("body, words", [
        ('[[rules]]\nname = "a"\n[rules.match]\nprivilegd = true\n', ["rules[0].match.privilegd", "privileged"]),
        ('[[rules]]\nname = "a"\n[rules.match]\nkind = ["acess_key"]\n', ["unknown credential kind 'acess_key'"]),
        ('[[rules]]\nname = "a"\naction = "delete"\n', ["rules[0].action"]),
        ('[[rules]]\nname = "a"\n[[rules]]\nname = "A"\n', ["rules[1].name", "each rule needs its own name"]),
        ('[[rules]]\ninactive_days = 3\n', ["rules[0].name"]),
        ('[[rules]]\nname = "a"\n[rules.match]\nprovider = ["pingone"]\n', ["'pingone' is not a known provider"]),
        ('rules = 3\n', ["rules", "array of tables"]),
    ])
    def test_bad_rules_are_named(self, body: str, words: list[str]) -> None:
        with pytest.raises(ConfigError) as err:
            parse(body + self.BASE if body.startswith("rules =") else self.BASE + body, "sweeper.toml")
        for word in words:
            assert word in str(err.value)

    def test_problems_name_shadowed_and_stricter_rules(self) -> None:
        rules = [Rule.model_validate(r) for r in (
            {"name": "contractors", "inactive_days": 60, "match": {"login": ["*@contractor.example"]}},
            {"name": "emea contractors", "inactive_days": 30,
             "match": {"login": ["*@contractor.example"], "org_unit": ["/EMEA"]}},
            {"name": "admins", "inactive_days": 45, "action": "disable", "match": {"privileged": True}},
            {"name": "auditors", "inactive_days": 30, "action": "report", "match": {"groups": ["Auditors"]}})]
        found = problems(rules, 90, None)
        assert any("rule 2 ('emea contractors') never applies: rule 1 ('contractors')" in p for p in found)
        assert any("rule 3 ('admins') disables privileged identities" in p for p in found)
        assert any("rule 1 ('contractors') disables after 60 days of inactivity, sooner than the defaults (90 days)"
                   in p for p in found)
        assert not any("auditors" in p for p in found)  # it only reports


# -- through the CLI and the Graph emulator ---------------------------------------------------

@pytest.fixture
def graph_tenant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Path]]:
    users = [graph.user("ga@contoso.test", id="ga", created=ago(900), success=ago(50)),
             graph.user("breakglass-1@contoso.test", id="bg", created=ago(900), success=ago(400)),
             graph.user("auditor@contoso.test", id="aud", created=ago(900), success=ago(35)),
             graph.user("nested@contoso.test", id="nest", created=ago(900), success=ago(35)),
             graph.user("dev@contoso.test", id="dev", created=ago(900), success=ago(35))]
    scn = {"tenant_id": "11111111-2222-3333-4444-555555555555", "token": "emulator-secret-token", "licensed": True,
           "users": users, "role_assignments": [{"principalId": "ga", "roleDefinitionId": GLOBAL_ADMIN},
                                                {"principalId": "bg", "roleDefinitionId": GLOBAL_ADMIN}],
           "groups": {"auditors": ["aud", "inner"], "inner": ["nest"]}}
    emu = graph_emulator.start(scn)
    monkeypatch.setenv("SWEEPER_TEST_RULES_TOKEN", emu.token)
    try:
        yield emu, tmp_path
    finally:
        emu.stop()


def _config(folder: Path, emu: Any, rules: str = "") -> str:
    path = folder / "sweeper.toml"
    path.write_text('[policy]\ninactive_days = 90\nwarn_days = 0\nmax_disable_percent = 100\nexclude = ["breakglass-*"]\n'
                    f'[journal]\npath = "{folder / "sweeper.db"}"\n'
                    f'[providers.entra]\nauth = "access_token"\ntoken_env = "SWEEPER_TEST_RULES_TOKEN"\n'
                    f'endpoint = "{emu.endpoint}"\ntenant_id = "{emu.tenant_id}"\n' + rules)
    return str(path)


def _plan(cfg: str) -> dict[str, dict[str, Any]]:
    r = runner.invoke(app, ["plan", "-c", cfg, "--as-of", AS_OF, "-f", "json"])
    assert r.exit_code == 0, r.output
    return {f["identity"]: f for f in json.loads(r.stdout)["findings"]}


PRIVILEGED = '[[rules]]\nname = "admins"\ninactive_days = 45\n{action}[rules.match]\nprivileged = true\n'


def test_a_global_admin_under_a_45_day_rule_is_reported_and_untouched_without_it(graph_tenant) -> None:
    emu, folder = graph_tenant
    assert "ga@contoso.test" not in _plan(_config(folder, emu))  # 50 days < 90: in use, no rule
    found = _plan(_config(folder, emu, PRIVILEGED.format(action="")))
    ga = found["ga@contoso.test"]
    assert ga["decision"] == "report" and ga["action"] == "none" and ga["rule"] == "admins"
    assert "under rule 'admins'" in ga["reason"] and "privileged: holds a directory role" in ga["reason"]
    assert E8_PRIVILEGED in ga["controls"]
    assert found["breakglass-1@contoso.test"]["decision"] == "excluded"


def test_a_privileged_rule_that_says_disable_disables_the_admin_and_restore_undoes_it(graph_tenant) -> None:
    emu, folder = graph_tenant
    cfg = _config(folder, emu, PRIVILEGED.format(action='action = "disable"\n'))
    assert _plan(cfg)["ga@contoso.test"]["decision"] == "disable"
    r = runner.invoke(app, ["apply", "-c", cfg, "--as-of", AS_OF, "-f", "json", "--yes"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    disabled = {f["identity"] for f in out["findings"] if f["action"] == "disabled"}
    assert disabled == {"ga@contoso.test"}  # the break-glass admin stays, excluded
    assert emu.user("ga")["accountEnabled"] is False
    r = runner.invoke(app, ["restore", out["run_id"], "-c", cfg, "--yes"])
    assert r.exit_code == 0, r.output
    assert emu.user("ga")["accountEnabled"] is True


def test_a_group_rule_applies_to_its_direct_and_nested_members_only(graph_tenant) -> None:
    emu, folder = graph_tenant
    rules = '[[rules]]\nname = "auditors"\ninactive_days = 30\n[rules.match]\ngroups = ["auditors"]\n'
    found = _plan(_config(folder, emu, rules))
    for login in ("auditor@contoso.test", "nested@contoso.test"):
        assert found[login]["decision"] == "disable"
        assert "over the 30-day threshold for accounts under rule 'auditors'" in found[login]["reason"]
    assert "dev@contoso.test" not in found  # 35 days: in use under the defaults


def test_explain_shows_inputs_rules_and_decision(graph_tenant) -> None:
    emu, folder = graph_tenant
    rules = (PRIVILEGED.format(action="")
             + '[[rules]]\nname = "auditors"\ninactive_days = 30\n[rules.match]\ngroups = ["auditors"]\n')
    cfg = _config(folder, emu, rules)
    r = runner.invoke(app, ["explain", "GA@contoso.test", "-c", cfg, "--as-of", AS_OF])
    assert r.exit_code == 0, r.output
    text = r.stdout
    assert "identity ga@contoso.test (id ga): member, enabled" in text
    assert "privileged: holds a directory role" in text
    assert f"last used {(NOW - timedelta(days=50)).date().isoformat()}" in text
    assert "rule 1 'admins': APPLIES" in text and "rule 2 'auditors': not reached (rule 'admins' applied first)" in text
    assert "thresholds: 45 days for accounts under rule 'admins'" in text
    assert "decision: REPORT:" in text
    r = runner.invoke(app, ["explain", "nested@contoso.test", "-c", cfg, "--as-of", AS_OF])
    assert "rule 1 'admins': does not match: not privileged" in r.stdout
    assert "rule 2 'auditors': APPLIES" in r.stdout and "decision: DISABLE:" in r.stdout
    r = runner.invoke(app, ["explain", "nobody@contoso.test", "-c", cfg, "--as-of", AS_OF])
    assert r.exit_code == 2 and "no identity matches 'nobody@contoso.test'" in r.output


def test_check_says_what_to_review_in_the_rules(graph_tenant) -> None:
    emu, folder = graph_tenant
    rules = ('[[rules]]\nname = "everyone"\ninactive_days = 30\n'
             '[[rules]]\nname = "auditors"\ninactive_days = 20\n[rules.match]\ngroups = ["auditors"]\n')
    r = runner.invoke(app, ["check", "-c", _config(folder, emu, rules)], env={"COLUMNS": "300"})
    assert "2 rule(s)" in r.output
    assert "rule 2 ('auditors') never applies: rule 1 ('everyone') comes first" in r.stdout
    assert "rule 1 ('everyone') disables after 30 days of inactivity, sooner than the defaults (90 days)" in r.stdout
