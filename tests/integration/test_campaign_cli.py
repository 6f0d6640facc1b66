"""Care's campaign commands on the real Firestore emulator: a YAML import saved with its audit or refused with its
reasons, start/pause/stop audited with who and what, a stopped campaign final."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from functions.voice_plus import __main__ as care
from functions.voice_plus.documents import AUDIT, BUDGETS, CAMPAIGNS
from shared import store

EXAMPLES = Path(__file__).parents[2] / "functions" / "voice_plus" / "campaigns"


def stored(campaign_id: str) -> dict | None:
    return store.db().collection(CAMPAIGNS).document(campaign_id).get().to_dict()


def audit_entries(campaign_id: str) -> list[dict]:
    entries = store.db().collection(CAMPAIGNS).document(campaign_id).collection(AUDIT).stream()
    return [entry.to_dict() for entry in sorted(entries, key=lambda entry: entry.id)]


def written(tmp_path: Path, name: str, content: object) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(content, allow_unicode=True), encoding="utf-8")
    return path


def test_the_demo_campaigns_import_with_an_audit_entry_each_and_list(firestore_clean, capsys):
    for example in sorted(EXAMPLES.glob("*.yaml")):
        assert care.main(["import", str(example), "--by", "dilnoza"]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "campaign voice-data-1gb saved (live, voice)" in out

    voice = stored("voice-data-1gb")
    assert voice["offer"] == {
        "kind": "bundle",
        "product": "data-1gb",
        "confirm": True,
        "keys": {"1": "activate", "2": "info", "9": "repeat"},
    }
    assert voice["cap"]["plays"] == 1 and voice["status"] == "live"
    [created] = audit_entries("voice-data-1gb")
    assert created["by"] == "dilnoza" and created["action"] == "import"
    assert created["changes"]["status"] == {"before": None, "after": "live"}

    # The same file again changes nothing and audits nothing.
    assert care.main(["import", str(EXAMPLES / "voice-data-1gb.yaml"), "--by", "dilnoza"]) == 0
    assert "unchanged" in capsys.readouterr().out
    assert len(audit_entries("voice-data-1gb")) == 1

    assert care.main(["list"]) == 0
    listed = capsys.readouterr().out
    assert "campaigns: 3" in listed and "sms-200-topup  live    sms" in listed
    assert "bundle data-1gb  budget 0/1000" in listed and "budget 0/unlimited" in listed

    store.db().collection(BUDGETS).document("voice-data-1gb").set({"used": 7})
    assert care.main(["show", "voice-data-1gb"]) == 0
    assert "cap: 1 plays in 24 h, 0 min apart; budget 7/1000" in capsys.readouterr().out


def test_a_refused_campaign_is_not_saved_and_its_reasons_name_the_fields_while_the_others_are(
    firestore_clean, tmp_path, capsys
):
    good = yaml.safe_load((EXAMPLES / "ussd-voice-100.yaml").read_text(encoding="utf-8"))
    long_russian = "Подключите сто минут на все сети всего за восемь тысяч"
    too_long = {**good, "id": "ussd-too-long", "text": {**good["text"], "ru": long_russian}}
    unknown = {**good, "id": "ussd-unknown", "offer": {"kind": "bundle", "product": "no-such-pack"}}
    path = written(tmp_path, "mixed.yaml", {"campaigns": [good, too_long, unknown]})

    assert care.main(["import", str(path), "--by", "aziz"]) == 1
    captured = capsys.readouterr()
    assert "campaign ussd-voice-100 saved" in captured.out
    assert "campaign ussd-too-long refused" in captured.err and "text.ru:" in captured.err
    assert "offer.product: no-such-pack is not in the catalogue in force" in captured.err
    assert stored("ussd-voice-100") is not None
    assert stored("ussd-too-long") is None and audit_entries("ussd-too-long") == []
    assert stored("ussd-unknown") is None


def test_an_sms_keyword_taken_by_a_live_campaign_is_refused(firestore_clean, tmp_path, capsys):
    assert care.main(["import", str(EXAMPLES / "sms-200.yaml"), "--by", "aziz"]) == 0
    twin = {**yaml.safe_load((EXAMPLES / "sms-200.yaml").read_text(encoding="utf-8")), "id": "sms-twin"}
    assert care.main(["import", str(written(tmp_path, "twin.yaml", twin)), "--by", "aziz"]) == 1
    assert "keyword: BONUS is used by campaign sms-200-topup" in capsys.readouterr().err
    assert stored("sms-twin") is None

    # Once the first is stopped, its keyword is free again.
    assert care.main(["stop", "sms-200-topup", "--by", "aziz"]) == 0
    assert care.main(["import", str(written(tmp_path, "twin.yaml", twin)), "--by", "aziz"]) == 0


def test_pause_start_stop_are_audited_with_who_and_what_and_stopped_is_final(firestore_clean, capsys):
    assert care.main(["import", str(EXAMPLES / "voice-data-1gb.yaml"), "--by", "dilnoza"]) == 0
    assert care.main(["pause", "voice-data-1gb", "--by", "aziz"]) == 0
    assert stored("voice-data-1gb")["status"] == "paused"
    assert care.main(["start", "voice-data-1gb", "--by", "dilnoza"]) == 0
    assert care.main(["stop", "voice-data-1gb", "--by", "aziz"]) == 0
    assert care.main(["start", "voice-data-1gb", "--by", "aziz"]) == 1
    assert "status: the campaign is stopped, which is final" in capsys.readouterr().err
    assert stored("voice-data-1gb")["status"] == "stopped"

    entries = audit_entries("voice-data-1gb")
    assert [(entry["action"], entry["by"]) for entry in entries] == [
        ("import", "dilnoza"),
        ("pause", "aziz"),
        ("start", "dilnoza"),
        ("stop", "aziz"),
    ]
    assert entries[1]["changes"] == {"status": {"before": "live", "after": "paused"}}
    assert entries[3]["changes"] == {"status": {"before": "live", "after": "stopped"}}

    assert care.main(["audit", "voice-data-1gb"]) == 0
    shown = capsys.readouterr().out
    assert "pause   by aziz" in shown and "status: 'live' -> 'paused'" in shown
    assert care.main(["show", "voice-data-1gb"]) == 0
    assert "voice-data-1gb (voice) 1 GB of data on wrong-number calls: stopped" in capsys.readouterr().out


def test_a_draft_cannot_be_paused_and_an_unknown_campaign_is_named(firestore_clean, tmp_path, capsys):
    draft = {**yaml.safe_load((EXAMPLES / "ussd-voice-100.yaml").read_text(encoding="utf-8")), "status": "draft"}
    assert care.main(["import", str(written(tmp_path, "draft.yaml", draft)), "--by", "aziz"]) == 0
    assert care.main(["pause", "ussd-voice-100", "--by", "aziz"]) == 1
    assert "status: draft cannot move to paused" in capsys.readouterr().err
    assert care.main(["start", "no-such", "--by", "aziz"]) == 1
    assert "campaign no-such refused" in capsys.readouterr().err
    assert len(audit_entries("ussd-voice-100")) == 1


def test_an_entry_with_an_unusable_id_is_refused_before_anything_is_read(firestore_clean, tmp_path, capsys):
    entry = {**yaml.safe_load((EXAMPLES / "ussd-voice-100.yaml").read_text(encoding="utf-8")), "id": "a/b"}
    assert care.main(["import", str(written(tmp_path, "bad-id.yaml", entry)), "--by", "aziz"]) == 1
    assert "campaign a/b refused:\n  id: String should match pattern" in capsys.readouterr().err
    assert list(store.db().collection(CAMPAIGNS).stream()) == []


def test_concurrent_saves_of_one_campaign_each_leave_one_audit_entry_numbered_without_gaps(firestore_clean, tmp_path):
    assert care.main(["import", str(EXAMPLES / "voice-data-1gb.yaml"), "--by", "dilnoza"]) == 0
    original = yaml.safe_load((EXAMPLES / "voice-data-1gb.yaml").read_text(encoding="utf-8"))
    files = [written(tmp_path, f"rename-{n}.yaml", {**original, "name": f"Renamed {n}"}) for n in range(6)]
    with ThreadPoolExecutor(len(files)) as pool:
        codes = list(pool.map(lambda n: care.main(["import", str(files[n]), "--by", f"agent-{n}"]), range(len(files))))
    assert codes == [0] * len(files)

    entries = audit_entries("voice-data-1gb")
    ids = sorted(
        entry.id for entry in store.db().collection(CAMPAIGNS).document("voice-data-1gb").collection(AUDIT).stream()
    )
    assert ids == [f"{n:06d}" for n in range(1, 8)]
    renames = [entry["changes"]["name"] for entry in entries[1:]]
    assert sorted(entry["by"] for entry in entries[1:]) == [f"agent-{n}" for n in range(6)]
    # Each rename saw the one before it: the audit's befores chain to the stored name.
    assert [rename["before"] for rename in renames] == [original["name"], *(r["after"] for r in renames[:-1])]
    assert stored("voice-data-1gb")["name"] == renames[-1]["after"]
