"""Operator-configurable texts: a profile rewords any text per language, checked when it loads."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from shared import texts
from shared.operator import ProfileError, load_file

PROFILES = Path(__file__).resolve().parent.parent / "fixtures" / "operators"
FIXTURE = PROFILES / "zerox-texts.yaml"


@pytest.fixture
def overrides_of():
    """`overrides_of(profile)`: render with that profile's wording; the current operator's again after."""
    yield lambda profile: texts.set_overrides(lambda: profile.texts)
    texts.set_overrides(None)


def test_the_operators_wording_wins_in_its_languages_and_the_shipped_text_serves_the_others(overrides_of):
    overrides_of(load_file(FIXTURE))
    assert texts.render("zero_balance.callback.sent", "en", destination="+998911112233") == (
        "Done! +998911112233 will get your call-me-back message from DemoTel.")
    assert texts.render("zero_balance.callback.sent", "ru", destination="+998911112233") == (
        "Готово! +998911112233 получит вашу просьбу перезвонить от DemoTel.")
    assert texts.render("zero_balance.callback.sent", "uz", destination="+998911112233") == (
        "Qayta qo'ng'iroq qilish haqidagi so'rovingiz +998911112233 raqamiga yuborildi.")


def test_without_overrides_the_shipped_text_is_rendered(overrides_of):
    overrides_of(load_file(Path("shared/operators/demo.yaml")))
    assert texts.render("zero_balance.callback.sent", "en", destination="+1") == (
        "Your call-me-back request was sent to +1.")


def test_render_follows_the_current_operator_profile(monkeypatch):
    from shared import operator, settings
    monkeypatch.setenv("VAS_OPERATOR_PROFILE", str(FIXTURE))
    settings.get.cache_clear()
    operator.current.cache_clear()
    try:
        assert texts.render("zero_balance.offer.callback", "en", destination="+1").startswith("DemoTel: no balance")
    finally:
        monkeypatch.undo()
        settings.get.cache_clear()
        operator.current.cache_clear()
    assert texts.render("zero_balance.offer.callback", "en", destination="+1").startswith("You have zero balance")


def profile_with(tmp_path, wording: dict) -> Path:
    data = yaml.safe_load(FIXTURE.read_text())
    data["languages"], data["texts"] = ["uz", "ru", "en"], wording
    path = tmp_path / "operator.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


@pytest.mark.parametrize("wording, problem", [
    ({"zero_balance.nonsense": {"en": "Hi"}}, "zero_balance.nonsense: no such text"),
    ({"zero_balance.callback.sent": {"zh": "已发送给{destination}。"}}, "does not offer this language"),
    ({"zero_balance.callback.sent": {"en": "Sent to {number}."}}, "placeholders ['number'] differ"),
    ({"zero_balance.callback.sent": {"en": "Sent."}}, "placeholders [] differ"),
    ({"zero_balance.callback.sent": {"en": "Sent to {destination"}}, "broken braces"),
    ({"zero_balance.callback.sent": {"en": "  "}}, "empty"),
    ({"zero_balance.callback.sent": {"fr": "Envoyé à {destination}."}}, "Input should be 'en', 'ru', 'uz'"),
])
def test_a_wrong_override_is_refused_at_load_naming_the_key_and_language(tmp_path, wording, problem):
    with pytest.raises(ProfileError) as refused:
        load_file(profile_with(tmp_path, wording))
    assert problem in str(refused.value)


def test_a_good_override_in_an_offered_language_loads(tmp_path):
    path = profile_with(tmp_path, {"zero_balance.request.after_call": {
        "uz": "Assalomu alaykum, men {number}. {time} da qo'ng'iroq qildim, balansim nol. Qayta qo'ng'iroq qiling."}})
    assert "zero_balance.request.after_call" in load_file(path).texts
