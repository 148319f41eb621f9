"""Many tenants in one sweep (#16), in the core: named instances of a provider kind in one config,
selected by kind or `kind:name`, each its own provider in reports, plan files, the journal, history
and restore; the single-section form stays the instance `default`, named by its kind alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sweeper import config as cfgmod
from sweeper.errors import ConfigError
from tests import fakes
from tests.fakes import FakeCloud
from tests.test_cli import AS_OF, report, run, seed

@pytest.fixture
def tenants():
    """Three fake tenants: a (fine), b (its stale users over a tight cap) and c (credentials refused)."""
    clouds = {}
    for name in "abc":
        cloud = FakeCloud(scope=f"tenant-{name}")
        seed(cloud, stale=3 if name != "b" else 6)
        fakes.CLOUDS[name] = clouds[name] = cloud
    clouds["c"].reject_auth = True
    yield clouds
    for name in "abc":
        fakes.CLOUDS.pop(name, None)


CONFIG = """
[policy]
max_disable_percent = 50
[engine]
max_parallel = 2
[providers.fake]
exclude = ["breakglass-*"]
[providers.fake.a]
cloud = "a"
[providers.fake.b]
cloud = "b"
max_disable_percent = 5
[providers.fake.c]
cloud = "c"
"""


@pytest.fixture
def cfg(tmp_path: Path, tenants) -> Path:
    path = tmp_path / "sweeper.toml"
    path.write_text(CONFIG)
    return path


def test_instances_load_with_the_kinds_defaults(cfg):
    c = cfgmod.load(str(cfg))
    assert list(c.providers) == ["fake:a", "fake:b", "fake:c"]
    assert c.providers["fake:a"].exclude == ["breakglass-*"]  # inherited
    assert c.providers["fake:b"].max_disable_percent == 5 and c.providers["fake:a"].max_disable_percent is None
    assert c.engine.max_parallel == 2


def test_the_single_section_form_is_the_default_instance(tmp_path):
    c = cfgmod.parse('[providers.fake]\ncloud = "x"\n')
    assert list(c.providers) == ["fake"] and c.providers["fake"].cloud == "x"


@pytest.mark.parametrize("text, says", [
    ('[providers.fake.Contoso]\n', "providers.fake.Contoso: not a usable instance name"),
    ('[providers.fake.default]\n', "providers.fake.default: not a usable instance name"),
    ('[providers.fake."a b"]\n', "not a usable instance name"),
    ('[providers.fake.a]\nclowd = "a"\n', "providers.fake.a.clowd: unknown key (did you mean cloud?)"),
    ('[engine]\nmax_parallel = 0\n', "engine.max_parallel"),
])
def test_bad_instances_are_refused_naming_the_key(text, says):
    with pytest.raises(ConfigError) as err:
        cfgmod.parse(text)
    assert says in str(err.value)


def test_one_run_sweeps_every_tenant_each_on_its_own(cfg, tenants):
    r = run("plan", "-c", cfg, "--as-of", AS_OF, "-f", "json")
    rep = report(r)
    status = {p["name"]: (p["scope"], p["status"]) for p in rep["providers"]}
    assert status == {"fake:a": ("tenant-a", "ok"), "fake:b": ("tenant-b", "capped"), "fake:c": ("tenant-c", "failed")}
    assert r.exit_code == 4  # a failed tenant; the others are judged all the same
    assert {f["provider"] for f in rep["findings"] if f["decision"] == "disable"} == {"fake:a", "fake:b"}
    assert "fake:c" in r.stderr


def test_selection_by_kind_or_instance(cfg, tenants):
    one = report(run("plan", "-c", cfg, "--as-of", AS_OF, "-f", "json", "-p", "fake:a"))
    assert [p["name"] for p in one["providers"]] == ["fake:a"]
    every = report(run("plan", "-c", cfg, "--as-of", AS_OF, "-f", "json", "-p", "fake"))
    assert sorted(p["name"] for p in every["providers"]) == ["fake:a", "fake:b", "fake:c"]
    bad = run("plan", "-c", cfg, "-p", "fake:zz")
    assert bad.exit_code == 2 and "fake:zz: not configured" in bad.stderr and "fake:a" in bad.stderr


def test_apply_journal_history_and_restore_of_one_tenant(cfg, tenants):
    r = run("apply", "-c", cfg, "--as-of", AS_OF, "--yes", "-f", "json", "-p", "fake:a", "-p", "fake:b",
            "--max-disable", "10")
    rep = report(r)
    assert r.exit_code == 0, r.output
    assert len(tenants["a"].calls) == 3 and len(tenants["b"].calls) == 6
    runs = json.loads(run("history", "-c", cfg, "-f", "json").stdout)["runs"]
    assert runs[0]["providers"] == ["fake:a", "fake:b"]
    actions = json.loads(run("history", "-c", cfg, "-f", "json", "--run", rep["run_id"]).stdout)["actions"]
    assert {a["provider"] for a in actions} == {"fake:a", "fake:b"}
    back = json.loads(run("restore", rep["run_id"], "-c", cfg, "-p", "fake:b", "-f", "json").stdout)
    assert back["results"] == {"restored": 6} and {i["provider"] for i in back["items"]} == {"fake:b"}
    assert all(u.enabled for u in tenants["b"].users.values() if u.login.startswith("stale"))
    assert not any(u.enabled for u in tenants["a"].users.values() if u.login.startswith("stale"))


def test_a_plan_file_names_its_instances(cfg, tenants, tmp_path):
    plan = tmp_path / "plan.json"
    run("plan", "-c", cfg, "--as-of", AS_OF, "-p", "fake:a", "--plan-out", plan)
    doc = json.loads(plan.read_text())
    assert {t["provider"] for t in doc["targets"]} == {"fake:a"}
    r = run("apply", plan, "-c", cfg, "--as-of", AS_OF, "--yes", "-f", "json")
    assert r.exit_code == 0, r.output
    assert [p["name"] for p in report(r)["providers"]] == ["fake:a"] and not tenants["b"].calls


def test_an_exception_can_name_one_instance(tmp_path, tenants):
    path = tmp_path / "s.toml"
    path.write_text(CONFIG + '[[exceptions]]\nmatch = "stale0@*"\nprovider = "fake:a"\nreason = "on leave"\n'
                             'expires = 2099-01-01\n')
    rep = report(run("plan", "-c", path, "--as-of", AS_OF, "-f", "json", "-p", "fake:a", "-p", "fake:b",
                     "--exit-code"))
    decided = {(f["provider"], f["identity"]): f["decision"] for f in rep["findings"]}
    assert decided[("fake:a", "stale0@example.com")] == "excluded"
    assert decided[("fake:b", "stale0@example.com")] == "disable"


def test_settings_tables_are_not_instances_and_instances_hold_them():
    """`[[providers.aws.accounts]]` and `[providers.aws.organization]` are AWS settings; under a named
    instance they are that instance's."""
    one = cfgmod.parse('[providers.aws]\naccount_id = "111111111111"\n[[providers.aws.accounts]]\nid = "222222222222"\n')
    assert list(one.providers) == ["aws"] and one.providers["aws"].accounts[0].id == "222222222222"
    two = cfgmod.parse('[providers.aws.org1.organization]\nmanagement_account_id = "111111111111"\n'
                       '[providers.aws.org2.organization]\nmanagement_account_id = "333333333333"\n'
                       '[providers.aws.listed]\n[[providers.aws.listed.accounts]]\nid = "222222222222"\n')
    assert list(two.providers) == ["aws:org1", "aws:org2", "aws:listed"]
    assert two.providers["aws:org2"].organization.management_account_id == "333333333333"
    assert two.providers["aws:listed"].organization is None
