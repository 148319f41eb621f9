"""Bad input of every kind exits 2 with a message naming the problem, never a traceback (issue 8.5).

Hypothesis generates config values and plan-file mutations; every outcome must be either accepted
(when the input is in fact valid) or a ConfigError / PlanError — no other exception, ever.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from sweeper import config as cfgmod
from sweeper import planfile
from sweeper.cli import app
from sweeper.errors import ConfigError, PlanError

runner = CliRunner()
NOW = datetime(2026, 11, 21, tzinfo=timezone.utc)

toml_values = st.one_of(
    st.integers(min_value=-10**6, max_value=10**6).map(str),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(lambda f: repr(float(f))),
    st.booleans().map(lambda b: "true" if b else "false"),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters='"\\\n\r'),
            max_size=12).map(lambda s: f'"{s}"'),
    st.lists(st.integers(-5, 5), max_size=3).map(lambda xs: "[" + ", ".join(map(str, xs)) + "]"),
    st.just("{ a = 1 }"),
)
POLICY_KEYS = list(cfgmod.PolicySettings.model_fields) + ["bogus_key"]


@settings(max_examples=300, deadline=None)
@given(key=st.sampled_from(POLICY_KEYS), value=toml_values, section=st.sampled_from(["policy", "providers.fake"]))
def test_generated_config_values_are_accepted_or_named(key, value, section):
    text = f"[{section}]\n{key} = {value}\n" + ("[providers.fake]\n" if section == "policy" else "")
    try:
        cfg = cfgmod.parse(text, "gen.toml")
    except ConfigError as err:
        message = str(err)
        assert message.startswith("gen.toml: ")
        assert key in message or "not valid TOML" in message, message
        return
    # accepted: then the value really is valid where it landed
    target = cfg.policy if section == "policy" else cfg.providers["fake"]
    assert key in type(target).model_fields
    got = getattr(target, key)
    may_be_zero = ("warn_days", "max_disable", "reenable_grace_days", "max_remove")  # 0: no warnings, no disables, no grace
    if isinstance(got, (int, float)) and not isinstance(got, bool) and key not in may_be_zero:
        assert got > 0


@settings(max_examples=50, deadline=None)
@given(garbage=st.binary(max_size=200))
def test_arbitrary_bytes_as_config(tmp_path_factory, garbage):
    path = tmp_path_factory.mktemp("cfg") / "x.toml"
    path.write_bytes(garbage)
    try:
        cfgmod.load(str(path))
    except ConfigError as err:
        assert str(path) in str(err)


@pytest.fixture(scope="module")
def base_plan():
    cfg = cfgmod.parse("[providers.fake]\n", "p.toml")
    body = {"schema_version": 1, "kind": planfile.KIND, "run_id": "r1", "created": "2026-11-21T00:00:00Z",
            "as_of": "2026-11-21T00:00:00Z", "config_digest": cfg.digest,
            "targets": [{"provider": "fake", "scope": "t", "identity_id": "u1", "identity": "a@x",
                         "kind": "account", "credential_id": "u1"}]}
    return cfg, {**body, "digest": planfile._digest(body)}


def _mutations():
    leaf = st.one_of(st.none(), st.integers(), st.text(max_size=8), st.booleans(), st.lists(st.integers(), max_size=2))
    return st.one_of(
        st.tuples(st.just("drop"), st.sampled_from(["schema_version", "kind", "created", "config_digest",
                                                     "targets", "digest"])),
        st.tuples(st.just("set"), st.sampled_from(["schema_version", "kind", "created", "config_digest", "targets",
                                                    "digest", "run_id"]), leaf),
        st.tuples(st.just("target"), st.sampled_from(["provider", "scope", "identity_id", "kind", "credential_id"]),
                  leaf),
        st.tuples(st.just("truncate"), st.integers(min_value=0, max_value=400)),
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutation=_mutations())
def test_mutated_plans_are_refused_with_a_plan_error(tmp_path_factory, base_plan, mutation):
    cfg, plan = base_plan
    plan = json.loads(json.dumps(plan))
    op = mutation[0]
    if op == "drop":
        plan.pop(mutation[1])
        text = json.dumps(plan)
    elif op == "set":
        if plan.get(mutation[1]) == mutation[2]:
            return
        plan[mutation[1]] = mutation[2]
        text = json.dumps(plan)
    elif op == "target":
        if plan["targets"][0][mutation[1]] == mutation[2]:
            return
        plan["targets"][0][mutation[1]] = mutation[2]
        text = json.dumps(plan)
    else:
        full = json.dumps(plan)
        if mutation[1] >= len(full):
            return
        text = full[: mutation[1]]
    path = tmp_path_factory.mktemp("plan") / "plan.json"
    path.write_text(text)
    with pytest.raises(PlanError) as err:
        planfile.read(str(path), cfg, NOW, 24)
    assert str(path) in str(err.value)


def test_the_unmutated_plan_is_accepted(tmp_path, base_plan):
    cfg, plan = base_plan
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    assert planfile.read(str(path), cfg, NOW + timedelta(hours=1), 24) == {("fake", "t", "u1", "account", "u1")}


@pytest.mark.parametrize("make,needle", [
    (lambda p: p.write_text("[policy\ninactive_days = 3"), "not valid TOML"),
    (lambda p: p.write_text("[policy]\ninactive_days = 'x'\n[providers.fake]\n"), "policy.inactive_days"),
    (lambda p: p.write_text("[providers.gcp]\n"), "providers.gcp: unknown provider"),
    (lambda p: p.write_text("[policy]\nwarn_days = -1\n[providers.fake]\n"), "policy.warn_days"),
    (lambda p: p.write_text(""), "file is empty"),
    (lambda p: p.mkdir(), "is a directory"),
    (lambda p: None, "not found"),
    (lambda p: (p.write_text("[providers.fake]\n"), os.chmod(p, 0)), "cannot read"),
    (lambda p: (p.parent / "afile").write_text(""), "cannot read"),
])
def test_bad_config_files_exit_2_through_the_cli(tmp_path, make, needle):
    path = tmp_path / "c.toml"
    make(path)
    if (tmp_path / "afile").exists():
        path = tmp_path / "afile" / "c.toml"  # a file where a folder should be: unreadable even for root
    elif needle == "cannot read" and os.geteuid() == 0:
        pytest.skip("root reads files whatever their mode")
    for command in (["plan"], ["apply", "--yes"], ["check"], ["history"]):
        r = runner.invoke(app, [*command, "-c", str(path)])
        assert r.exit_code == 2, (command, r.output)
        assert needle in r.stderr and str(path) in r.stderr and "Traceback" not in r.output
