"""Many tenants in one sweep (#16) against the real emulators: three Entra tenants (three Graph
emulators) and two Google customers (two Directory emulators), each a named instance with its own
endpoint, token, thresholds, exclusions and caps, swept by one `sweeper` run through the CLI.

contoso is fine; fabrikam has a tighter threshold and a cap its stale users exceed; northwind's Graph
answers 500 to every users listing; acme and globex (Google) differ in threshold, excluded org units
and admin protection. Tenants share logins, and contoso and fabrikam share one user's object id, so a
finding, an action or a restore that crossed tenants would show.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
from typer.testing import CliRunner, Result

from providers.emulator import Faults, toml_section
from providers.entra import emulator as graph_emulator
from providers.entra import scenario as graph
from providers.google_workspace import emulator as directory_emulator
from providers.google_workspace import scenario as directory
from sweeper.cli import app

AS_OF = "2025-06-01"
NOW = datetime(2025, 6, 1, tzinfo=timezone.utc)
TENANTS = {"contoso": "11111111-0000-4000-8000-000000000001", "fabrikam": "22222222-0000-4000-8000-000000000002",
           "northwind": "33333333-0000-4000-8000-000000000003"}
CUSTOMERS = {"acme": "C0acme001", "globex": "C0globex1"}
SHARED_ID = "0b0b0b0b-0000-4000-8000-00000000b0b0"  # bob's object id in contoso and in fabrikam


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def entra_tenant(name: str) -> dict[str, Any]:
    """alice active (2 days), bob stale (200 days, the same object id in contoso and fabrikam), frank
    60 days (stale only under fabrikam's 45-day threshold), breakglass-1 stale (excluded in contoso only),
    and stale users stale1..3 (fabrikam's cap is 2)."""
    domain = f"{name}.example"
    users = [graph.user(f"alice@{domain}", id=f"{name}-alice", created=ago(900), success=ago(2)),
             graph.user(f"bob@{domain}", id=SHARED_ID if name != "northwind" else f"{name}-bob", created=ago(900),
                        success=ago(200)),
             graph.user(f"frank@{domain}", id=f"{name}-frank", created=ago(900), success=ago(60)),
             graph.user(f"breakglass-1@{domain}", id=f"{name}-bg", created=ago(900), success=ago(400))]
    users += [graph.user(f"stale{i}@{domain}", id=f"{name}-stale{i}", created=ago(900), success=ago(150 + i))
              for i in range(1, 4)]
    return {"tenant_id": TENANTS[name], "token": f"graph-token-{name}", "licensed": True, "users": users,
            "role_assignments": [], "groups": {}, "domains": [domain]}


def google_customer(name: str) -> dict[str, Any]:
    """ann active, bert stale (200 days), svc-backup stale in /Service Accounts, boss a stale super
    admin, carl 40 days (stale only under globex's 30-day threshold)."""
    cid, domain = CUSTOMERS[name], f"{name}.example"
    users = [directory.user(f"{name}-1", f"ann@{domain}", created=ago(900), last_login=ago(1), customer_id=cid),
             directory.user(f"{name}-2", f"bert@{domain}", created=ago(900), last_login=ago(200), customer_id=cid),
             directory.user(f"{name}-3", f"svc-backup@{domain}", created=ago(900), last_login=ago(300),
                            customer_id=cid, orgUnitPath="/Service Accounts"),
             directory.user(f"{name}-4", f"boss@{domain}", created=ago(900), last_login=ago(300), customer_id=cid,
                            isAdmin=True),
             directory.user(f"{name}-5", f"carl@{domain}", created=ago(900), last_login=ago(40), customer_id=cid)]
    return {"customer_id": cid, "domain": domain, "token": f"google-token-{name}", "users": users}


class Estate:
    """The five emulators, the config that names them, and the token variables each instance reads."""

    def __init__(self, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.entra = {n: graph_emulator.start(entra_tenant(n)) for n in TENANTS}
        self.google = {n: directory_emulator.start(google_customer(n)) for n in CUSTOMERS}
        # northwind's Graph is down for listings: 500 to every users page (binding still answers)
        self.entra["northwind"].faults = Faults(fail_after=0, fail_status=500, only=("GET /v1.0/users",))
        tokens = {**{n: e.token for n, e in self.entra.items()}, **{n: e.token for n, e in self.google.items()}}
        for name, token in tokens.items():
            monkeypatch.setenv(f"SWEEPER_TOKEN_{name.upper()}", token)
        self.folder = folder
        self.path = folder / "sweeper.toml"

    def write(self, *, max_parallel: int = 3, **instance_keys: dict[str, Any]) -> Path:
        """The config: kind-level defaults, one section per instance, `instance_keys[name]` added to it."""
        text = ('[policy]\ninactive_days = 90\nwarn_days = 14\nmax_disable = 100\nmax_disable_percent = 100\n'
                f'[journal]\npath = "{self.folder / "sweeper.db"}"\n[engine]\nmax_parallel = {max_parallel}\n'
                '[providers.entra]\nauth = "access_token"\n'
                '[providers.google_workspace]\nauth = "access_token"\nactivity_sources = []\n')
        own: dict[str, dict[str, Any]] = {
            "contoso": {"exclude": ["breakglass-*"]},
            "fabrikam": {"inactive_days": 45, "max_disable": 2},
            "acme": {"exclude_org_units": ["/Service Accounts"]},
            "globex": {"inactive_days": 30, "skip_admins": False},
        }
        for name, emu in self.entra.items():
            keys = {"tenant_id": emu.tenant_id, "endpoint": emu.endpoint, "token_env": f"SWEEPER_TOKEN_{name.upper()}",
                    **own.get(name, {}), **instance_keys.get(name, {})}
            text += toml_section(f"providers.entra.{name}", keys)
        for name, demu in self.google.items():
            keys = {"customer": demu.customer_id, "endpoint": demu.endpoint,
                    "token_env": f"SWEEPER_TOKEN_{name.upper()}", **own.get(name, {}), **instance_keys.get(name, {})}
            text += toml_section(f"providers.google_workspace.{name}", keys)
        self.path.write_text(text)
        return self.path

    def stop(self) -> None:
        for emu in [*self.entra.values(), *self.google.values()]:
            emu.stop()


@pytest.fixture
def estate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Estate]:
    monkeypatch.setenv("COLUMNS", "200")
    for name in ("SWEEPER_ENTRA_TOKEN", "SWEEPER_GOOGLE_TOKEN", "AZURE_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    e = Estate(tmp_path, monkeypatch)
    e.write()
    yield e
    e.stop()


def sweeper(*args: object) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def report(r: Result) -> dict[str, Any]:
    assert r.stdout.lstrip().startswith("{"), r.output
    doc: dict[str, Any] = json.loads(r.stdout)
    return doc


def decisions(doc: dict[str, Any], provider: str) -> dict[str, str]:
    """login -> decision, for one instance's findings."""
    return {f["identity"].split("@")[0]: f["decision"] for f in doc["findings"] if f["provider"] == provider}


def test_one_plan_sweeps_five_tenants_each_with_its_own_settings(estate: Estate) -> None:
    r = sweeper("plan", "-c", estate.path, "--as-of", AS_OF, "-f", "json")
    doc = report(r)
    status = {p["name"]: (p["scope"], p["status"]) for p in doc["providers"]}
    assert status == {
        "entra:contoso": (TENANTS["contoso"], "ok"), "entra:fabrikam": (TENANTS["fabrikam"], "capped"),
        "entra:northwind": (TENANTS["northwind"], "failed"),
        "google_workspace:acme": (CUSTOMERS["acme"], "ok"), "google_workspace:globex": (CUSTOMERS["globex"], "ok")}
    assert r.exit_code == 4  # a failed tenant; the others are judged all the same
    rows = {p["name"]: p for p in doc["providers"]}
    assert rows["entra:contoso"]["instance"] == "contoso" and rows["entra:contoso"]["identities"] == 7
    assert "HTTP 500" in rows["entra:northwind"]["message"]
    assert "safety cap: 6 disables exceed max_disable = 2" in rows["entra:fabrikam"]["message"]
    assert rows["entra:contoso"]["decisions"] == {"disable": 4, "excluded": 1}
    assert f"entra:northwind {TENANTS['northwind']}: failed" in r.stderr
    # each finding is its own tenant's: the scope is that tenant's id, the login that tenant's domain
    for f in doc["findings"]:
        name = f["provider"].split(":")[1]
        assert f["identity"].endswith(f"@{name}.example"), f
        assert f["scope"] == {**TENANTS, **CUSTOMERS}[name]
    # thresholds and exclusions are each instance's own
    assert decisions(doc, "entra:contoso") == {"bob": "disable", "breakglass-1": "excluded", "stale1": "disable",
                                               "stale2": "disable", "stale3": "disable"}
    assert decisions(doc, "entra:fabrikam") == {"bob": "disable", "breakglass-1": "disable", "frank": "disable",
                                                "stale1": "disable", "stale2": "disable", "stale3": "disable"}
    assert {f["threshold_days"] for f in doc["findings"] if f["provider"] == "entra:fabrikam"} == {45}
    assert {f["action"] for f in doc["findings"] if f["provider"] == "entra:fabrikam"} == {"none"}  # capped
    assert decisions(doc, "entra:northwind") == {}  # nothing judged on a failed listing
    assert decisions(doc, "google_workspace:acme") == {"bert": "disable", "svc-backup": "excluded",
                                                       "boss": "protected"}
    assert decisions(doc, "google_workspace:globex") == {"bert": "disable", "svc-backup": "disable",
                                                         "boss": "disable", "carl": "disable"}
    # every tenant was asked with its own token: the emulators refuse any other, and all but the
    # failed one listed
    for name in ("contoso", "fabrikam"):
        assert estate.entra[name].request_counts().get("GET /v1.0/users") == 1
    assert all(emu.list_requests >= 1 for emu in estate.google.values())



def test_instances_list_under_their_own_names_without_copies(estate: Estate,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The registry names each instance's adapter, so identities are made as `entra:contoso`'s: the
    engine's relabelling copy (for adapters that ignore the name) is never needed for ours."""
    from sweeper import sweep

    copied: list[str] = []
    real = sweep.replace

    def replace(obj: Any, **changes: Any) -> Any:
        if "provider" in changes:
            copied.append(f"{obj.provider} -> {changes['provider']}")
        return real(obj, **changes)

    monkeypatch.setattr(sweep, "replace", replace)
    doc = report(sweeper("plan", "-c", estate.path, "--as-of", AS_OF, "-f", "json"))
    assert sum(p["identities"] for p in doc["providers"]) > 20
    assert copied == []
    assert {f["provider"] for f in doc["findings"]} == {"entra:contoso", "entra:fabrikam", "google_workspace:acme",
                                                        "google_workspace:globex"}

def test_selection_by_kind_and_by_instance(estate: Estate) -> None:
    one = report(sweeper("plan", "-c", estate.path, "--as-of", AS_OF, "-f", "json", "-p", "entra:fabrikam"))
    assert [p["name"] for p in one["providers"]] == ["entra:fabrikam"]
    assert estate.entra["contoso"].request_counts() == {} and estate.google["acme"].request_counts() == {}
    kind = report(sweeper("plan", "-c", estate.path, "--as-of", AS_OF, "-f", "json", "-p", "google_workspace",
                          "-p", "entra:contoso"))
    assert sorted(p["name"] for p in kind["providers"]) == ["entra:contoso", "google_workspace:acme",
                                                           "google_workspace:globex"]
    assert "GET /v1.0/users" not in estate.entra["northwind"].request_counts()
    bad = sweeper("plan", "-c", estate.path, "-p", "entra:tailspin")
    assert bad.exit_code == 2 and "entra:tailspin: not configured" in bad.stderr


def test_apply_then_restore_one_tenant_on_its_emulator(estate: Estate) -> None:
    contoso, fabrikam = estate.entra["contoso"], estate.entra["fabrikam"]
    r = sweeper("apply", "-c", estate.path, "--as-of", AS_OF, "--yes", "-f", "json", "-p", "entra:contoso",
                "-p", "entra:fabrikam", "--max-disable", "10")
    doc = report(r)
    assert r.exit_code == 0, r.output
    disabled = {(f["provider"], f["identity"].split("@")[0]) for f in doc["findings"] if f["action"] == "disabled"}
    assert disabled == {("entra:contoso", u) for u in ("bob", "stale1", "stale2", "stale3")} | {
        ("entra:fabrikam", u) for u in ("bob", "breakglass-1", "frank", "stale1", "stale2", "stale3")}
    assert not contoso.user(SHARED_ID)["accountEnabled"] and not fabrikam.user(SHARED_ID)["accountEnabled"]
    assert contoso.enabled("contoso-bg") and contoso.enabled("contoso-frank")  # excluded, and under 90 days

    back = sweeper("restore", doc["run_id"], "-c", estate.path, "-p", "entra:contoso", "-f", "json")
    assert back.exit_code == 0, back.output
    restored = json.loads(back.stdout)
    assert restored["results"] == {"restored": 4}
    assert {i["provider"] for i in restored["items"]} == {"entra:contoso"}
    # on the emulators: contoso's users are enabled again, fabrikam's (bob with the same object id too) are not
    assert all(contoso.enabled(k) for k in (SHARED_ID, "contoso-stale1", "contoso-stale2", "contoso-stale3"))
    assert not any(fabrikam.enabled(k) for k in (SHARED_ID, "fabrikam-stale1", "fabrikam-frank", "fabrikam-bg"))
    assert fabrikam.state.events.count(("enable", SHARED_ID)) == 0
    assert contoso.state.events.count(("enable", SHARED_ID)) == 1


def test_a_slow_tenant_fails_on_its_own_deadline_and_the_others_finish(estate: Estate) -> None:
    """max_parallel = 2 and three Entra tenants: fabrikam's Graph takes 1.5 s per users page, over its
    own listing_deadline_seconds = 0.5, while contoso and northwind (healthy here) are listed whole."""
    estate.entra["northwind"].faults = Faults()
    estate.entra["fabrikam"].faults = Faults(latency_ms=1500, only=("GET /v1.0/users",))
    path = estate.write(max_parallel=2, fabrikam={"listing_deadline_seconds": 0.5})
    doc = report(sweeper("plan", "-c", path, "--as-of", AS_OF, "-f", "json", "-p", "entra"))
    rows = {p["name"]: p for p in doc["providers"]}
    assert {n: p["status"] for n, p in rows.items()} == {"entra:contoso": "ok", "entra:fabrikam": "failed",
                                                         "entra:northwind": "ok"}
    assert "listing_deadline_seconds = 0.5" in rows["entra:fabrikam"]["message"]
    for name in ("contoso", "northwind"):
        assert rows[f"entra:{name}"]["identities"] == 7  # complete listings
    assert set(decisions(doc, "entra:northwind")) == {"bob", "breakglass-1", "stale1", "stale2", "stale3"}
    assert decisions(doc, "entra:fabrikam") == {}


def test_the_single_section_form_still_works(estate: Estate, monkeypatch: pytest.MonkeyPatch) -> None:
    emu = estate.entra["contoso"]
    monkeypatch.setenv("SWEEPER_ENTRA_TOKEN", emu.token)
    estate.path.write_text(f'[policy]\nmax_disable_percent = 100\n[journal]\npath = "{estate.folder / "single.db"}"\n'
                           + emu.config_toml())
    doc = report(sweeper("plan", "-c", estate.path, "--as-of", AS_OF, "-f", "json"))
    assert [(p["name"], p["scope"], p["status"], p["instance"]) for p in doc["providers"]] == [
        ("entra", TENANTS["contoso"], "ok", "default")]


def _encrypted_certificate(path: Path, password: str) -> Path:
    """A PEM file holding a self-signed certificate and its RSA key, the key encrypted with `password`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, path.stem)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(NOW - timedelta(days=1))
            .not_valid_after(NOW + timedelta(days=3650)).sign(key, hashes.SHA256()))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.BestAvailableEncryption(password.encode()))
    path.write_bytes(pem + cert.public_bytes(serialization.Encoding.PEM))
    return path


def test_each_tenant_reads_its_own_certificate_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two tenants on certificate auth, each key under its own password: each instance names the variable
    holding its password (one process-wide AZURE_CLIENT_CERTIFICATE_PASSWORD could serve only one)."""
    from providers.entra import credentials
    from providers.entra.settings import EntraSettings
    from sweeper.errors import ConfigError
    from sweeper import config as cfgmod

    monkeypatch.delenv("AZURE_CLIENT_CERTIFICATE_PASSWORD", raising=False)
    keys = {name: _encrypted_certificate(tmp_path / f"{name}.pem", f"pw-{name}-0123456789") for name in TENANTS}
    for name in TENANTS:
        monkeypatch.setenv(f"SWEEPER_CERT_PW_{name.upper()}", f"pw-{name}-0123456789")
    cfg = cfgmod.parse('[providers.entra]\nauth = "certificate"\nclient_id = "11111111-2222-3333-4444-555555555555"\n'
                       + "".join(toml_section(f"providers.entra.{name}", {
                           "tenant_id": TENANTS[name], "certificate_path": str(keys[name]),
                           "certificate_password_env": f"SWEEPER_CERT_PW_{name.upper()}"}) for name in TENANTS))
    settings = {name: EntraSettings.model_validate(cfg.providers[f"entra:{name}"].model_dump()) for name in TENANTS}
    built = {name: credentials.build(s) for name, s in settings.items()}
    assert {name: type(c).__name__ for name, c in built.items()} == {n: "CertificateCredential" for n in TENANTS}
    # contoso's key with fabrikam's password is refused: the password read is the one the instance names
    crossed = settings["contoso"].model_copy(update={"certificate_password_env": "SWEEPER_CERT_PW_FABRIKAM"})
    with pytest.raises(ValueError):
        credentials.build(crossed)
    with pytest.raises(ConfigError, match="certificate_password_env"):  # no variable outside SWEEPER_* or Azure's
        cfgmod.parse('[providers.entra]\ncertificate_password_env = "HOME"\n')
