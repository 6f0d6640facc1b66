"""A service brings its own part of the demo and of the bench, found without infra/ naming it.

Discovery (infra/sections.py) reads `functions.<service>.demo` and `functions.<service>.bench`, the
way the edge reads `functions.<service>.edge`; the ping service (tests/fixtures/ping_service) lives
outside functions/ and is handed to discovery next to the packages it finds. infra/ imports of a
service nothing but those two modules (and only through discovery).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from infra import bench, demo, sections
from infra.bench_common import BenchStage, Latency, Rate, ratio
from infra.cost import CostMeter
from infra.demo_common import SUBSCRIBERS, DemoSection, DemoStage, Transcript
from shared.operator import PROFILES_DIR, load_file
from tests.fixtures.ping_service import bench as ping_bench, demo as ping_demo
from tests.unit.test_import_rules import ROOT, _owner, violations

PING = "tests.fixtures.ping_service"
PROFILE = load_file(PROFILES_DIR / "demo.yaml")
SECTION_MODULES = ("demo", "bench")  # what infra/ may import of a service (through discovery)


def _on_disk(kind: str) -> tuple[str, ...]:
    return tuple(f"functions.{path.parent.name}" for path in sorted((ROOT / "functions").glob(f"*/{kind}.py")))


@pytest.mark.parametrize("kind", SECTION_MODULES)
def test_every_services_demo_and_bench_module_is_discovered(kind):
    assert sections.service_packages(kind) == _on_disk(kind)


def test_discovery_finds_the_services_sections_without_a_list():
    assert sections.service_packages("demo") == ("functions.credits", "functions.ledger", "functions.missed_calls",
                                                 "functions.subscriptions", "functions.transfers",
                                                 "functions.voice_plus", "functions.zero_balance")
    assert sections.service_packages("bench") == ("functions.credits", "functions.ledger", "functions.missed_calls",
                                                  "functions.notify", "functions.subscriptions", "functions.transfers",
                                                  "functions.voice_plus")


def test_the_demo_plays_the_services_parts_and_the_platforms_in_their_order():
    played = [section.play.__module__ for section in demo.demo_sections(PROFILE)]
    assert played == ["functions.ledger.demo", "infra.demo", "functions.transfers.demo",
                      "functions.missed_calls.demo", "functions.zero_balance.demo",
                      "functions.subscriptions.demo",  # moves the clock (a month), and so does
                      "functions.voice_plus.demo",     # (offers on the month's clock)
                      "functions.credits.demo"]        # a year: last of all
    measured = [section.measure.__module__ for section in bench.bench_sections(PROFILE)]
    assert measured == ["functions.notify.bench", "functions.ledger.bench", "functions.transfers.bench",
                        "functions.missed_calls.bench", "functions.subscriptions.bench", "functions.credits.bench",
                        "functions.voice_plus.bench"]


def test_a_service_the_profile_switches_off_has_no_part():
    services = {name: presets for name, presets in PROFILE.services.items() if name != "transfers"}
    profile = PROFILE.model_copy(update={"services": services})
    assert "functions.transfers.demo" not in [section.play.__module__ for section in demo.demo_sections(profile)]
    assert "functions.transfers.bench" not in [section.measure.__module__ for section in bench.bench_sections(profile)]


def test_a_new_services_demo_section_is_found_and_plays_its_part():
    found = demo.demo_sections(PROFILE, (*sections.service_packages("demo"), PING))
    assert found[-1] is ping_demo.SECTION                                      # order 99: after every service
    stage = DemoStage(carrier=None, transcript=Transcript(), timeout=1.0, subscribers=SUBSCRIBERS, profile=PROFILE)
    found[-1].play(stage)
    assert [step.action for step in stage.transcript.steps] == [ping_demo.STEP]


def test_a_new_services_bench_section_is_found_its_count_read_and_its_figure_printed(tmp_path):
    measured = bench.bench_sections(PROFILE, (*sections.service_packages("bench"), PING))
    assert measured[-1] is ping_bench.SECTION
    messages, runs, counts, push = bench.parse(["--pings", "3", "--transfers", "20"], measured)   # every count
    assert (messages, runs, counts) == (300, 3, {"sessions": 8, "soak-minutes": 10,             # the platform's
                                                 "ussd-requests": 500, "transfers": 20, "concurrency": 8,
                                                 "calls": 300, "callers": 50, "calls-each": 4,
                                                 "storm-subscribers": 2000, "subscription-screens": 300,
                                                 "renewals": 100, "credit-recharges": 20,
                                                 "hot-account-debits": 1000, "hot-account-users": 100,
                                                 "voice-plus-calls": 300, "addon-requests": 300, "pings": 3})
    small = bench.parse(["--storm-subscribers", "20", "--soak-minutes", "0"], measured)[2]
    assert (small["storm-subscribers"], small["soak-minutes"]) == (20, 0)
    assert push == "local", "the bench pushes like production unless told --push emulator"
    assert bench.parse(["--runs", "5"], measured)[1] == 5
    with pytest.raises(SystemExit):
        bench.parse(["--runs", "0"], measured)
    stage = BenchStage(stack=None, profile=PROFILE, subscribers=SUBSCRIBERS, messages=messages, raw_ceiling=1.0,
                       counts=counts, meter=CostMeter(tmp_path, {}, set()))
    assert bench.render([[Rate("x", 1.0, "/s", "one")], measured[-1].measure(stage)]) == (
        "x                  1.0 /s         (one)\n\nping               3.0 /s         (pings answered)")


def test_a_section_module_without_its_section_is_refused(tmp_path, monkeypatch):
    (tmp_path / "mute_service").mkdir()
    (tmp_path / "mute_service" / "__init__.py").write_text("")
    (tmp_path / "mute_service" / "demo.py").write_text("def play(stage):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(TypeError, match=r"mute_service.demo declares no SECTION = DemoSection\(...\)"):
        sections.sections("demo", DemoSection, PROFILE, ["mute_service"])


def test_the_figures_keep_the_benchs_line_format():
    assert Rate("notify path", 123.45, "SMS/s", "n").line() == "notify path      123.5 SMS/s      (n)"
    assert Rate("policy", 98765.4, "decisions/s", "p", digits=0).line() == "policy           98765 decisions/s (p)"
    assert ratio(1.0, 4.0, "r").line() == "ratio             0.25            (r)"
    assert Latency("*100# USSD", 3.25, 12.0, "l").line() == "*100# USSD    p50    3.2 ms  p99   12.0 ms   (l)"
    assert Rate("", 7.0, "SMS/s", "s").line() == "                   7.0 SMS/s      (s)"


# --- what infra/ imports of a service --------------------------------------------------------------


def infra_broken(module: str, target: str) -> str | None:
    """Why `module` (under infra/) may not import `target`; None when it may."""
    service = _owner(target)
    if not module.startswith("infra.") or service is None:
        return None
    if target in {f"functions.{service}.{kind}" for kind in SECTION_MODULES}:
        return None
    return f"infra imports the {service} service's {target}"


def infra_violations(root: Path) -> list[str]:
    """Every import under root/infra that reaches into a service, as `file:line: why`."""
    return violations(root, "infra", infra_broken)


def test_infra_imports_of_a_service_only_its_demo_and_bench_sections():
    assert infra_violations(ROOT) == []


@pytest.mark.parametrize("module, target", [
    ("infra.demo", "functions.missed_calls.config"),
    ("infra.demo", "functions.zero_balance"),
    ("infra.bench", "functions.transfers.bench_policy"),
    ("infra.bench", "functions.missed_calls.documents"),
])
def test_the_rule_refuses_infra_reaching_into_a_service(module, target):
    assert infra_broken(module, target) is not None


@pytest.mark.parametrize("module, target", [
    ("infra.demo", "functions.missed_calls.demo"),
    ("infra.bench", "functions.transfers.bench"),
    ("infra.sections", "functions"),
    ("infra.demo", "shared.ledger"),
])
def test_the_rule_allows_the_sections_and_shared_code(module, target):
    assert infra_broken(module, target) is None


def test_infra_imports_are_read_at_any_depth(tmp_path):
    for package in ("functions", "functions/missed_calls", "infra"):
        (tmp_path / package).mkdir(parents=True, exist_ok=True)
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "functions" / "missed_calls" / "config.py").write_text("")
    (tmp_path / "functions" / "missed_calls" / "demo.py").write_text("")
    (tmp_path / "infra" / "demo.py").write_text(
        "from functions.missed_calls import config as missed_calls_config, demo\n\n\n"
        "def later():\n    from functions.missed_calls.config import config_for\n")
    assert infra_violations(tmp_path) == [
        "infra/demo.py:1: infra imports the missed_calls service's functions.missed_calls.config",
        "infra/demo.py:5: infra imports the missed_calls service's functions.missed_calls.config",
    ]
