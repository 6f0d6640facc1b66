"""What every service's presets get from shared/presets.py: files named by the profile, one in force,
and errors that name the file and the field; the operator commands' MSISDN arguments."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from functions.missed_calls.config import ConfigError, MissedCallConfig, config_for
from shared import cli, runtime
from shared.operator import load_file
from shared.presets import AllowanceBucket, Bucket, ServicePresets, Strict

DEMO = load_file(Path("shared/operators/demo.yaml"))
SHIPPED = Path("functions/missed_calls/presets")


@pytest.fixture
def presets(tmp_path) -> ServicePresets[MissedCallConfig]:
    """A copy of the shipped demo preset in a folder of its own."""
    (tmp_path / "demotel-reminder.yaml").write_text((SHIPPED / "demotel-reminder.yaml").read_text())
    return ServicePresets("missed_calls", tmp_path, MissedCallConfig, kind="missed-call preset", error=ConfigError)


def test_the_profile_names_the_preset_in_force_and_it_is_read_once(presets):
    first = presets.for_profile(DEMO)
    assert first.name == "demotel-reminder" and first.charging.reminder_price == 50 * 100
    assert presets.for_profile(DEMO) is first
    assert config_for(DEMO) == first          # the service's own module reads the same file


def test_a_service_the_profile_does_not_name_is_off_and_its_events_are_refused(presets, monkeypatch):
    off = DEMO.model_copy(update={"services": {}})
    assert presets.for_profile(off) is None
    monkeypatch.setattr("shared.operator.current", lambda: off)
    with pytest.raises(runtime.Rejected, match="services.missed_calls"):
        presets.in_force()


def test_two_presets_for_one_service_are_refused(presets):
    both = DEMO.model_copy(update={"services": {"missed_calls": ["demotel-reminder", "other"]}})
    with pytest.raises(ConfigError, match="one preset runs the service"):
        presets.for_profile(both)


def test_an_unknown_name_lists_the_shipped_presets_and_a_renamed_copy_is_refused(presets, tmp_path):
    with pytest.raises(ConfigError, match=r"no missed-call preset named 'nope' \(available: demotel-reminder\)"):
        presets.load("nope", DEMO.currency)
    (tmp_path / "copy.yaml").write_text((SHIPPED / "demotel-reminder.yaml").read_text())
    with pytest.raises(ConfigError, match="name: 'demotel-reminder' differs from its file name 'copy'"):
        presets.load("copy", DEMO.currency)


@pytest.mark.parametrize("content, complaint", [
    ("name: [", "is not valid YAML"),
    ("- a list\n", "must be a mapping of fields"),
    ("name: x\ntitle: X\ncharging: {}\n", "currency: required field is missing"),
])
def test_a_broken_file_is_refused_naming_the_file_and_what_is_wrong(presets, tmp_path, content, complaint):
    broken = tmp_path / "broken.yaml"
    broken.write_text(content)
    with pytest.raises(ConfigError, match=complaint) as raised:
        presets.load_file(broken, DEMO.currency)
    assert str(broken) in str(raised.value)


class Buckets(Strict):
    paid_from: Bucket = "main"
    granted_to: AllowanceBucket = "data_mb"


def test_money_is_never_taken_from_an_allowance_bucket_nor_an_allowance_put_in_a_money_one():
    """A transfer debiting data_mb would move megabytes as money: each field knows which buckets it may name."""
    assert Buckets(paid_from="bonus", granted_to="voice_min") == Buckets(paid_from="bonus", granted_to="voice_min")
    with pytest.raises(ValidationError, match="unknown bucket 'data_mb' \\(known: bonus, main;"):
        Buckets(paid_from="data_mb")
    with pytest.raises(ValidationError, match="unknown allowance bucket 'main' \\(known: data_mb, roaming_data_mb, sms"):
        Buckets(granted_to="main")


def test_an_msisdn_argument_is_normalised_and_a_bad_one_is_a_usage_error(monkeypatch, capsys):
    monkeypatch.setattr("shared.operator.current", lambda: DEMO)
    parser, commands = cli.commands("functions.example", "Example.")
    commands.add_parser("show").add_argument("msisdn", type=cli.msisdn)
    assert parser.parse_args(["show", "901234567"]).msisdn == "+998901234567"
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(["show", "12ab"])
    assert exited.value.code == 2
    assert "not a valid phone number: '12ab'" in capsys.readouterr().err
