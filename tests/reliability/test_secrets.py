"""Secrets never leave the process: tokens, AWS secret keys and an Entra client secret are looked for in
everything a run leaves behind (stdout, stderr with SWEEPER_DEBUG=1, reports, plan file, journal dump,
the GitHub step summary), on success and on every failure path that can run locally."""

from __future__ import annotations

import json
import secrets
import sqlite3
from pathlib import Path

from tests.reliability import world
from tests.reliability.harness import record, start, sweeper


def leftovers(folder: Path) -> str:
    """Every file a run wrote into `folder` as text; SQLite journals as their SQL dump."""
    out = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        if path.suffix == ".db":
            db = sqlite3.connect(path)
            out.append("\n".join(db.iterdump()))
            db.close()
        else:
            out.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(out)


def assert_hidden(secret_values: dict[str, str], *texts: str) -> None:
    blob = "\n".join(texts)
    for name, value in secret_values.items():
        for probe in (value, value[-16:]):
            assert probe not in blob, f"{name} leaked"


def test_secrets_appear_nowhere(served, tmp_path):
    tag = secrets.token_hex(8)
    entra_token, google_token = f"SECRET-entra-{tag}-tok", f"SECRET-google-{tag}-tok"
    at = world.now()
    ep = served.reset(world.scenario(at, entra_token=entra_token, google_token=google_token))
    aws_secret = ep.raw["aws_env"]["AWS_SECRET_ACCESS_KEY"]
    hidden = {"entra token": entra_token, "google token": google_token, "aws secret key": aws_secret}
    good = tmp_path / "good"
    good.mkdir()
    env = ep.env(entra_token, google_token, GITHUB_STEP_SUMMARY=str(good / "summary.md"), SWEEPER_DEBUG="1")
    cfg = ep.config(good)
    texts = []

    # Failure paths first, at once (they change nothing): wrong tokens and keys, and an Entra client
    # secret whose token request cannot succeed here.
    bad = tmp_path / "bad"
    bad.mkdir()
    wrong = {"entra wrong token": f"SECRET-wrong-entra-{tag}", "google wrong token": f"SECRET-wrong-google-{tag}",
             "aws wrong secret": f"SECRET/wrong+aws{tag}0123456789abcdef"}
    bad_env = ep.env(wrong["entra wrong token"], wrong["google wrong token"], SWEEPER_DEBUG="1",
                     AWS_ACCESS_KEY_ID="AKIAUNKNOWNKEY000000", AWS_SECRET_ACCESS_KEY=wrong["aws wrong secret"],
                     GITHUB_STEP_SUMMARY=str(bad / "summary.md"))
    bad_cfg = ep.config(bad)
    client_secret = f"SECRET-azure-client-{tag}"
    az = tmp_path / "azure"
    az.mkdir()
    az_cfg = ep.config(az, aws=None, google_workspace=None,
                       entra={"auth": "client_secret", "client_id": "11111111-2222-3333-4444-555555555555",
                              "max_retries": 0})
    az_env = ep.env(AZURE_CLIENT_SECRET=client_secret, SWEEPER_DEBUG="1",
                    GITHUB_STEP_SUMMARY=str(az / "summary.md"))
    procs = [start("plan", "-c", bad_cfg, "-f", "json", "-o", bad / "plan.json", "--plan-out", bad / "p.json",
                   env=bad_env),
             start("check", "-c", bad_cfg, env=bad_env),
             start("apply", "-c", bad_cfg, "--yes", "-o", bad / "apply.json", env=bad_env),
             start("plan", "-c", az_cfg, "-o", az / "plan.json", env=az_env),
             start("check", "-c", az_cfg, env=az_env)]
    # Meanwhile the good path (the failing runs stop at authentication, before reading anything):
    # plan with every output, apply the plan, check, history, restore.
    plan = sweeper("plan", "-c", cfg, "-o", good / "r.json", "-o", good / "r.csv", "-o", good / "r.md",
                   "-f", "json", "--plan-out", good / "plan.json", env=env)
    assert plan.code == 0, plan
    apply = sweeper("apply", good / "plan.json", "-c", cfg, "--yes", "-o", good / "applied.json", env=env)
    assert apply.code == 0, apply
    check = sweeper("check", "-c", cfg, env=env)
    assert check.code == 0, check
    history = sweeper("history", "-c", cfg, "-f", "json", env=env)
    run_id = next(r["run_id"] for r in history.json()["runs"] if r["mode"] == "apply")
    restore = sweeper("restore", run_id, "-c", cfg, env=env)
    assert restore.code == 0, restore
    for ran in (plan, apply, check, history, restore):
        texts += [ran.stdout, ran.stderr]
    failed = [(p.wait(120), *p.communicate()) for p in procs]
    assert [code for code, _, _ in failed] == [4, 4, 4, 4, 4], failed
    bad_report = json.loads((bad / "plan.json").read_text())
    messages = {p["name"]: p["message"] for p in bad_report["providers"]}
    assert all(p["status"] == "failed" for p in bad_report["providers"]), messages
    assert all("rejected" in m or "invalid" in m.lower() for m in messages.values()), messages
    assert "cannot get a token" in (az / "plan.json").read_text()
    for _, out, err in failed:
        texts += [out, err]
        assert "Traceback" not in err

    texts += [leftovers(tmp_path)]
    assert (good / "summary.md").exists() and (good / "sweeper.db").exists()
    assert_hidden({**hidden, **wrong, "azure client secret": client_secret}, *texts)
    record("secrets", runs=10, bytes_searched=sum(map(len, texts)), failure_messages=messages)
