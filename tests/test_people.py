"""People across clouds (#25) over the registered fake providers, through the CLI: `fake` is the source
of truth (its members are the people, with departures), `fake2` a cloud whose users link to them by
tags and addresses. The same paths through the real emulators are in tests/test_people_emulators.py."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sweeper.cli import app
from sweeper.model import Departure
from tests import fakes
from tests.fakes import FakeUser

NOW = datetime.now(timezone.utc).replace(microsecond=0)
runner = CliRunner()


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def other():
    c = fakes.FakeCloud(scope="other-account")
    fakes.CLOUDS["other"] = c
    yield c
    fakes.CLOUDS.pop("other", None)


def cfg(tmp_path: Path, people: str = "", policy: str = "") -> Path:
    path = tmp_path / "sweeper.toml"
    path.write_text(f"[policy]\nmax_disable_percent = 100\n{policy}\n"
                    '[providers.fake]\ncloud = "default"\n[providers.fake2]\ncloud = "other"\n'
                    f'[people]\nsources = ["fake"]\ntags = ["email", "owner"]\n{people}\n')
    return path


def seed(source: fakes.FakeCloud, target: fakes.FakeCloud) -> None:
    """alice works; bob was disabled 10 days ago; carol was deleted 20 days ago; erin left 3 days ago; two
    members share an address. In the other cloud: each one's users, one used after its person left."""
    source.add(FakeUser("alice@example.com", ago(1), ago(500), emails=("a.smith@example.com",)))
    source.add(FakeUser("bob@example.com", ago(12), ago(500), enabled=False,
                        departure=Departure("disabled", ago(10))))
    source.deleted["carol@example.com"] = FakeUser("carol@example.com", ago(25), ago(500), enabled=False,
                                                   departure=Departure("deleted", ago(20)))
    source.add(FakeUser("erin@example.com", ago(4), ago(500), enabled=False, departure=Departure("disabled", ago(3))))
    source.add(FakeUser("dave1@example.com", ago(1), ago(500), emails=("team@example.com",)))
    source.add(FakeUser("dave2@example.com", ago(1), ago(500), emails=("team@example.com",)))
    target.add(FakeUser("svc-alice", ago(2), ago(300), tags={"email": "A.Smith@Example.com"}, owner=""))
    target.add(FakeUser("bob-ci", ago(1), ago(300), tags={"owner": "BOB@example.com"}, owner=""))
    target.add(FakeUser("bob-old", ago(30), ago(300), tags={"Email": "bob@example.com"}, owner=""))
    target.add(FakeUser("carol@example.com", ago(40), ago(300)))
    target.add(FakeUser("erin-dev", ago(5), ago(300), tags={"email": "erin@example.com"}, owner=""))
    target.add(FakeUser("nobody", ago(3), ago(300), owner=""))
    target.add(FakeUser("team-bot", ago(3), ago(300), tags={"email": "team@example.com"}, owner=""))


def plan(path: Path) -> dict:
    r = run("plan", "-c", path, "-f", "json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def by_login(doc: dict) -> dict[str, dict]:
    return {f["identity"]: f for f in doc["findings"]}


def test_leavers_are_found_in_every_cloud_and_reported(tmp_path, cloud, other) -> None:
    seed(cloud, other)
    doc = plan(cfg(tmp_path))
    found = by_login(doc)
    bob = found["bob-ci"]
    assert bob["decision"] == "leaver" and bob["person"] == "bob@example.com"
    assert bob["leaver"] == f"disabled in fake since {ago(10).date().isoformat()}"
    assert bob["used_after_leaving"] is True and bob["risk"] == "high"
    assert "used on" in bob["reason"] and "people.leavers = report" in bob["reason"]
    assert found["bob-old"]["decision"] == "leaver" and "used_after_leaving" not in found["bob-old"]
    assert found["carol@example.com"]["leaver"].startswith("deleted in fake since")  # from the deleted items
    erin = found["erin-dev"]
    assert erin["decision"] == "leaver" and "used_after_leaving" not in erin  # last used before she left
    assert "svc-alice" not in found, "an active person's account is no finding"
    assert found["nobody"]["decision"] == "orphan" and "belongs to no person" in found["nobody"]["reason"]
    team = found["team-bot"]
    assert team["decision"] == "orphan" and "matches 2 people" in team["reason"] and "person" not in team
    s = doc["summary"]
    assert s["leaver"] == 4 and s["used_after_leaving"] == 1 and s["orphan"] == 2 and s["disable"] == 0
    counts = doc["people"]["counts"]
    assert counts["leavers"] == 3 and counts["orphans"] == 2 and counts["ambiguous"] == 1
    people = {p["person"]: p for p in doc["people"]["people"]}
    assert {a["identity"] for a in people["bob@example.com"]["accounts"]} == {"bob@example.com", "bob-ci", "bob-old"}
    assert "alice@example.com" not in people  # nothing to act on or know
    # the source's own members are no orphans and no leaver findings of their own
    assert all(f["provider"] == "fake2" for f in doc["findings"] if f["decision"] in ("leaver", "orphan"))


def test_leavers_disable_past_the_grace_then_restore_undoes_it(tmp_path, cloud, other) -> None:
    seed(cloud, other)
    path = cfg(tmp_path, 'leavers = "disable"\nleaver_grace_days = 7')
    r = run("apply", "-c", path, "-f", "json", "--yes")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    found = by_login(doc)
    for login in ("bob-ci", "bob-old", "carol@example.com"):
        assert found[login]["decision"] == "disable" and found[login]["action"] == "disabled", login
        assert "leavers = disable" in found[login]["reason"] and found[login]["leaver"]
    erin = found["erin-dev"]  # left 3 days ago: in the 7-day grace
    assert erin["decision"] == "leaver" and erin["action"] == "none" and "leaver grace" in erin["reason"]
    assert found["nobody"]["action"] == "none"
    assert {login for _, login in other.calls} == {"bob-ci", "bob-old", "carol@example.com"}
    assert not cloud.calls, "the source's own accounts are never acted on for leaving"
    assert "NIST 800-53 AC-2(3)(b)" in found["bob-ci"]["controls"]
    back = run("restore", doc["run_id"], "-c", path)
    assert back.exit_code == 0, back.output
    assert all(other.users[login].enabled for login in ("bob-ci", "bob-old", "carol@example.com"))


def test_exclusions_and_protections_win_over_leaving(tmp_path, cloud, other) -> None:
    seed(cloud, other)
    other.users["bob-ci"].protected_by = "the sweeper's own user"
    path = cfg(tmp_path, 'leavers = "disable"', policy='exclude = ["bob-old"]')
    r = run("apply", "-c", path, "-f", "json", "--yes")
    assert r.exit_code == 0, r.output
    found = by_login(json.loads(r.stdout))
    assert found["bob-ci"]["decision"] == "protected" and found["bob-ci"]["used_after_leaving"] is True
    assert found["bob-old"]["decision"] == "excluded"
    assert ("disable", "bob-ci") not in other.calls and ("disable", "bob-old") not in other.calls


def test_a_source_that_cannot_say_when_or_is_not_listed_whole_disables_nobody(tmp_path, cloud, other) -> None:
    seed(cloud, other)
    cloud.users["bob@example.com"].departure = Departure("disabled", None, note="audit log unreadable")
    path = cfg(tmp_path, 'leavers = "disable"')
    found = by_login(plan(path))
    assert found["bob-ci"]["decision"] == "leaver" and "not known" in found["bob-ci"]["reason"]
    assert "used_after_leaving" not in found["bob-ci"]  # when bob left is not known: no claim either way
    assert found["carol@example.com"]["decision"] == "disable"  # carol's date is known
    cloud.fail_deleted = True  # the deleted accounts cannot be read: carol is nobody's now
    doc = plan(path)
    assert by_login(doc)["carol@example.com"]["decision"] == "orphan"
    assert "deleted accounts could not be listed" in doc["providers"][0]["message"]
    cloud.fail_deleted, cloud.fail_listing_after = False, 2  # the source breaks part-way
    r = run("plan", "-c", path, "-f", "json")
    assert r.exit_code == 4, r.output  # partial
    doc = json.loads(r.stdout)
    assert doc["providers"][0]["status"] == "failed"
    assert all(f["decision"] != "disable" for f in doc["findings"] if f.get("leaver"))
    assert doc["people"]["incomplete"]


def test_a_run_without_the_sources_links_nobody(tmp_path, cloud, other) -> None:
    seed(cloud, other)
    r = run("plan", "-c", cfg(tmp_path), "-p", "fake2", "-f", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert "not linked" in doc["people"]["not_linked"]
    assert not any(f["decision"] in ("orphan", "leaver") for f in doc["findings"])


def test_the_mapping_file_links_first_and_its_errors_name_the_line(tmp_path, cloud, other) -> None:
    seed(cloud, other)
    (tmp_path / "people.csv").write_text("person,provider,identity\nbob@example.com,fake2,NOBODY\n"
                                         "contractor-x,fake2,team-bot\n")
    found = by_login(plan(cfg(tmp_path, 'mapping = "people.csv"')))
    assert found["nobody"]["decision"] == "leaver" and found["nobody"]["person"] == "bob@example.com"
    assert "team-bot" not in found  # linked by the mapping to a person with no source account: no finding
    (tmp_path / "people.csv").write_text("person,provider,identity\nbob@example.com,fake2\n")
    r = run("plan", "-c", cfg(tmp_path, 'mapping = "people.csv"'))
    assert r.exit_code == 2 and "line 2" in r.output and "people.mapping" in r.output
    (tmp_path / "people.csv").write_text("a@x,fake2,nobody\nb@x,fake2,Nobody\n")
    r = run("plan", "-c", cfg(tmp_path, 'mapping = "people.csv"'))
    assert r.exit_code == 2 and "line 2" in r.output and "line 1" in r.output


@pytest.mark.parametrize("people, error", [
    ('sources = ["nope"]', "people.sources"),
    ('sources = ["fake"]\nleavers = "delete"', "people.leavers"),
    ('sources = ["fake"]\nlever_grace_days = 3', "did you mean leaver_grace_days"),
])
def test_config_errors_name_the_key(tmp_path, people: str, error: str) -> None:
    path = tmp_path / "sweeper.toml"
    path.write_text(f'[providers.fake]\ncloud = "default"\n[people]\n{people}\n')
    r = run("plan", "-c", path)
    assert r.exit_code == 2 and error in r.output and "Traceback" not in r.output


def test_a_source_must_be_swept(tmp_path) -> None:
    path = tmp_path / "sweeper.toml"
    path.write_text('[providers.fake]\ncloud = "default"\n[people]\nsources = ["fake2"]\n')
    r = run("plan", "-c", path)
    assert r.exit_code == 2 and "people.sources[0]" in r.output


def test_reports_show_the_people(tmp_path, cloud, other) -> None:
    seed(cloud, other)
    path = cfg(tmp_path)
    md = run("plan", "-c", path, "-f", "markdown")
    assert md.exit_code == 0, md.output
    assert "### People" in md.stdout and "used after leaving" in md.stdout
    lines = md.stdout.splitlines()
    first = next(n for n, line in enumerate(lines) if line.startswith("| bob@example.com"))
    assert "used after leaving" in lines[first]  # whoever was used after leaving comes first
    html = run("plan", "-c", path, "-f", "html")
    assert html.exit_code == 0 and "<h2>People</h2>" in html.stdout and "used after leaving" in html.stdout
    ocsf = run("plan", "-c", path, "-f", "ocsf")
    events = [json.loads(line) for line in ocsf.stdout.splitlines() if line.strip()] if not \
        ocsf.stdout.lstrip().startswith("[") else json.loads(ocsf.stdout)
    critical = [e for e in events if e.get("severity") == "Critical"]
    assert len(critical) == 1 and "bob-ci" in json.dumps(critical[0])


def test_check_reviews_the_sources_and_the_mapping(tmp_path, cloud, other) -> None:
    seed(cloud, other)
    (tmp_path / "people.csv").write_text("person,provider,identity\nbob@example.com,fake2,nobody\n")
    r = run("check", "-c", cfg(tmp_path, 'mapping = "people.csv"'))
    assert r.exit_code == 0, r.output
    assert "1 row(s) from people.csv" in r.output and "lists deleted ones" in r.output
    (tmp_path / "people.csv").write_text("bob@example.com,fake2\n")
    r = run("check", "-c", cfg(tmp_path, 'mapping = "people.csv"'))
    assert r.exit_code == 4 and "line 1" in r.output
