"""Config validation: every bad input is an error naming the file, the key and the value."""

from __future__ import annotations

from pathlib import Path

import pytest

from sweeper import config as cfgmod
from sweeper.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
GOOD = """
[policy]
inactive_days = 90
[providers.fake]
cloud = "default"
"""


def test_example_config_loads_and_documents_every_key():
    cfg = cfgmod.load(str(ROOT / "config.example.toml"))
    assert set(cfg.providers) == {"aws", "entra", "google_workspace"}
    text = (ROOT / "config.example.toml").read_text()
    for name, settings in cfg.providers.items():
        for key, field in type(settings).model_fields.items():
            documented = f"{key} =" in text or f"[providers.{name}.{key}]" in text
            assert documented, f"config.example.toml lacks providers.{name}.{key}"
            nested = getattr(field.annotation, "__args__", (field.annotation,))
            for model in (m for m in nested if isinstance(m, type) and hasattr(m, "model_fields")):
                for sub in model.model_fields:
                    assert f"{sub} =" in text, f"config.example.toml lacks providers.{name}.{key}.{sub}"
    for key in cfgmod.PolicySettings.model_fields:
        assert f"{key} =" in text, f"config.example.toml lacks policy.{key}"
    for key in cfgmod.JournalSettings.model_fields:
        assert f"{key} =" in text, f"config.example.toml lacks journal.{key}"
    for key in cfgmod.NotifySettings.model_fields:
        assert f"{key} =" in text, f"config.example.toml lacks notify.{key}"
    for key in cfgmod.ExceptionEntry.model_fields:
        assert f"{key} =" in text, f"config.example.toml lacks exceptions.{key}"
    for key in cfgmod.EngineSettings.model_fields:
        assert f"{key} =" in text, f"config.example.toml lacks engine.{key}"


def test_the_example_many_tenants_form_loads():
    """The commented multi-tenant example in config.example.toml, uncommented, is a valid config."""
    text = (ROOT / "config.example.toml").read_text()
    block = text[text.index("# [providers.entra]  "):text.index("# [[exceptions]]")]
    lines = [line[2:] for line in block.splitlines() if line.startswith("# ")]
    cfg = cfgmod.parse("\n".join(lines) + "\n")
    assert set(cfg.providers) == {"entra:contoso", "entra:fabrikam"}
    assert cfg.providers["entra:fabrikam"].max_disable == 5 and cfg.providers["entra:contoso"].max_disable is None


def test_defaults_and_digest():
    a = cfgmod.parse(GOOD, "a.toml")
    assert a.policy.warn_days == 14 and a.policy.max_disable == 25
    b = cfgmod.parse(GOOD.replace("90", "60"), "b.toml")
    assert a.digest != b.digest
    assert cfgmod.parse(GOOD, "c.toml").digest == a.digest


@pytest.mark.parametrize("text,needle", [
    ("[policy\n", "not valid TOML"),
    (GOOD + "[policy2]\n", "policy2: unknown key"),
    (GOOD.replace("inactive_days = 90", "inactive_days = 0"), "policy.inactive_days"),
    (GOOD.replace("inactive_days = 90", "inactive_days = -5"), "got -5"),
    (GOOD.replace("inactive_days = 90", 'inactive_days = "90"'), "policy.inactive_days"),
    (GOOD.replace("inactive_days = 90", "inactive_dayz = 90"), "policy.inactive_dayz: unknown key"),
    (GOOD + "[providers.azure]\n", "providers.azure: unknown provider"),
    (GOOD + "warn_days = 3\n", "providers.fake.warn_days"),  # lands in [providers.fake]: allowed
    ('[providers.fake]\nbogus = 1\n', "providers.fake.bogus: unknown key"),
    ('[providers.fake]\nmax_disable_percent = 150\n', "providers.fake.max_disable_percent"),
    ('[providers.fake]\nenabled = false\n', "no provider configured"),
    ('[policy]\nexclude = "x*"\n[providers.fake]\n', "policy.exclude"),
    ('providers = 3\n', "providers: must be a table"),
])
def test_bad_config_names_the_key(text, needle):
    if needle == "providers.fake.warn_days":
        assert cfgmod.parse(text, "x.toml").providers["fake"].warn_days == 3
        return
    with pytest.raises(ConfigError) as err:
        cfgmod.parse(text, "x.toml")
    assert needle in str(err.value)
    assert "x.toml" in str(err.value)


def test_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        cfgmod.load(str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="is a directory"):
        cfgmod.load(str(tmp_path))
    empty = tmp_path / "empty.toml"
    empty.write_text("   \n")
    with pytest.raises(ConfigError, match="empty"):
        cfgmod.load(str(empty))
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="UTF-8"):
        cfgmod.load(str(binary))


def test_default_path_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SWEEPER_CONFIG", str(tmp_path / "env.toml"))
    assert cfgmod.default_path() == str(tmp_path / "env.toml")
    monkeypatch.delenv("SWEEPER_CONFIG")
    assert cfgmod.default_path() == "sweeper.toml"


def test_journal_path_is_relative_to_the_config(tmp_path):
    p = tmp_path / "sub" / "s.toml"
    p.parent.mkdir()
    p.write_text(GOOD)
    assert cfgmod.load(str(p)).journal_path == p.parent / "sweeper.db"


@pytest.mark.parametrize("text, says", [
    (GOOD.replace("inactive_days = 90", "inactive_dayz = 90"), "policy.inactive_dayz: unknown key (did you mean inactive_days?)"),
    ('[providers.aws]\nendpoint = "https://iam.amazonaws.com"\n', "(did you mean endpoint_url?)"),
    ('[providers.aws.organization]\nrole = "X"\n', "providers.aws.organization.role: unknown key (did you mean role_name?)"),
    ('[providers.fake]\nbogus = 1\n', "providers.fake.bogus: unknown key"),
])
def test_an_unknown_key_near_a_real_one_says_which(text, says):
    with pytest.raises(cfgmod.ConfigError) as caught:
        cfgmod.parse(text, "c.toml")
    assert says in str(caught.value)
    if "bogus" in text:
        assert "did you mean" not in str(caught.value)
