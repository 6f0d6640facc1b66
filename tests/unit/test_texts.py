"""Every subscriber-facing text exists in all five languages with the same placeholders.

This guards every texts file (shared/texts/*.yaml and functions/<service>/texts/*.yaml): a key missing
a language, or a translation that drops or renames a {placeholder}, would fail at the moment a
subscriber should have been told.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from shared import text_catalog, texts

REPO = Path(__file__).resolve().parents[2]
TEXT_FILES = texts.files()


def problems_in(path: Path) -> list[str]:
    """Everything wrong with one texts file, in words that point at the key and language."""
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        return [f"{path.name}: not valid YAML: {error}"]
    if not isinstance(content, dict):
        return [f"{path.name}: must map text keys to translations"]
    found = []
    for key, translations in content.items():
        where = f"{path.name}: {key}"
        if not isinstance(translations, dict):
            found.append(f"{where}: must map languages to texts")
            continue
        missing = [lang for lang in texts.LANGUAGES if lang not in translations]
        extra = sorted(set(translations) - set(texts.LANGUAGES))
        if missing:
            found.append(f"{where}: missing {', '.join(missing)}")
        if extra:
            found.append(f"{where}: languages the platform does not speak: {', '.join(map(str, extra))}")
        fields = {}
        for lang, text in translations.items():
            if not isinstance(text, str) or not text.strip():
                found.append(f"{where} [{lang}]: empty or not a text")
                continue
            try:
                fields[lang] = texts.fields(text)
            except ValueError as error:
                found.append(f"{where} [{lang}]: broken braces: {error}")
                continue
            positional = [f for f in fields[lang] if not f.isidentifier()]
            if positional:
                found.append(f"{where} [{lang}]: placeholders must be names, found {{{positional[0]}}}")
        reference = set(fields.get(texts.FALLBACK, []))
        for lang, names in fields.items():
            if set(names) != reference:
                found.append(f"{where} [{lang}]: placeholders {sorted(set(names))}"
                             f" differ from {texts.FALLBACK} {sorted(reference)}")
    return found


@pytest.mark.parametrize("path", TEXT_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_text_has_all_languages_and_the_same_placeholders(path):
    assert problems_in(path) == []


def test_no_key_is_defined_in_two_files():
    texts.catalog.cache_clear()
    assert set(texts.catalog())  # raises on a duplicate key


def test_the_services_texts_are_read_from_their_own_folders():
    services = {path.parent.parent.name for path in TEXT_FILES if path.is_relative_to(texts.SERVICES_DIR)}
    assert {"transfers", "missed_calls", "zero_balance", "provisioning"} <= services
    assert texts.render("transfer.refused.recipient_daily_count", "en", limit=1, days=1)


def test_a_key_a_service_defines_again_is_refused_naming_both_files(tmp_path, monkeypatch):
    (tmp_path / "shared").mkdir()
    (tmp_path / "functions" / "new" / "texts").mkdir(parents=True)
    (tmp_path / "shared" / "common.yaml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "functions" / "new" / "texts" / "new.yaml").write_text(GOOD, encoding="utf-8")
    monkeypatch.setattr(text_catalog, "TEXTS_DIR", tmp_path / "shared")
    monkeypatch.setattr(text_catalog, "SERVICES_DIR", tmp_path / "functions")
    texts.catalog.cache_clear()
    try:
        with pytest.raises(ValueError, match=r"'greeting' is defined twice: in \S*shared/common.yaml and "
                                             r"\S*functions/new/texts/new.yaml"):
            texts.catalog()
    finally:
        texts.catalog.cache_clear()


# --- the checker itself must catch what it guards against ---------------------------------

def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "sample.yaml"
    path.write_text(body, encoding="utf-8")
    return path


GOOD = """\
greeting:
  en: "Hello {name}"
  ru: "Здравствуйте, {name}"
  uz: "Salom {name}"
  ky: "Саламатсызбы, {name}"
  zh: "您好，{name}"
"""


def test_checker_accepts_a_complete_text(tmp_path):
    assert problems_in(_write(tmp_path, GOOD)) == []


def test_checker_reports_a_missing_language(tmp_path):
    path = _write(tmp_path, GOOD.replace('  zh: "您好，{name}"\n', ""))
    assert problems_in(path) == ["sample.yaml: greeting: missing zh"]


def test_checker_reports_a_renamed_placeholder(tmp_path):
    path = _write(tmp_path, GOOD.replace("Salom {name}", "Salom {ism}"))
    assert problems_in(path) == ["sample.yaml: greeting [uz]: placeholders ['ism'] differ from en ['name']"]


def test_checker_reports_positional_placeholders_and_empty_texts(tmp_path):
    path = _write(tmp_path, GOOD.replace("Hello {name}", "Hello {}").replace("Salom {name}", " "))
    found = problems_in(path)
    assert "sample.yaml: greeting [en]: placeholders must be names, found {}" in found
    assert "sample.yaml: greeting [uz]: empty or not a text" in found


# --- render -------------------------------------------------------------------------------

@pytest.fixture
def sample_texts(tmp_path, monkeypatch):
    _write(tmp_path, GOOD + 'english.only:\n  en: "Only {what}"\n')
    monkeypatch.setattr(text_catalog, "TEXTS_DIR", tmp_path)  # where the catalog is read from
    monkeypatch.setattr(text_catalog, "SERVICES_DIR", tmp_path)  # the sample alone, no service texts
    texts.catalog.cache_clear()
    yield
    texts.catalog.cache_clear()


def test_render_fills_the_text_in_the_requested_language(sample_texts):
    assert texts.render("greeting", "ru", name="Айгуль") == "Здравствуйте, Айгуль"
    assert texts.render("greeting", "zh", name="李") == "您好，李"


def test_render_falls_back_to_english_for_a_missing_language(sample_texts):
    assert texts.render("english.only", "ky", what="this") == "Only this"


def test_render_refuses_an_unknown_key(sample_texts):
    with pytest.raises(texts.UnknownText):
        texts.render("no.such.text", "en")


# --- plural forms (CLDR categories through Babel) -------------------------------------------

CALLS = ("{count, plural, =0 {no missed calls} one {{count} missed call} "
         "other {{count} missed calls}} from {caller}")
ЗВОНКИ = "{count} {count, plural, one {звонок} few {звонка} many {звонков} other {звонка}} от {caller}"


@pytest.fixture
def plural_texts(tmp_path, monkeypatch):
    _write(tmp_path, f'calls:\n  en: "{CALLS}"\n  ru: "{ЗВОНКИ}"\n  zh: "{{caller}}的未接来电{{count}}个"\n')
    monkeypatch.setattr(text_catalog, "TEXTS_DIR", tmp_path)  # where the catalog is read from
    monkeypatch.setattr(text_catalog, "SERVICES_DIR", tmp_path)  # the sample alone, no service texts
    texts.catalog.cache_clear()
    yield
    texts.catalog.cache_clear()


def test_a_count_picks_the_plural_form_of_the_readers_language(plural_texts):
    assert texts.render("calls", "en", count=1, caller="+998901000001") == "1 missed call from +998901000001"
    assert texts.render("calls", "en", count=3, caller="X") == "3 missed calls from X"
    assert texts.render("calls", "en", count=0, caller="X") == "no missed calls from X"
    russian = [texts.render("calls", "ru", count=n, caller="X") for n in (1, 2, 5, 21, 1.5)]
    assert russian == ["1 звонок от X", "2 звонка от X", "5 звонков от X", "21 звонок от X", "1.5 звонка от X"]
    assert texts.render("calls", "zh", count=1, caller="X") == "X的未接来电1个"


def test_a_count_given_as_text_still_picks_its_form(plural_texts):
    assert texts.render("calls", "en", count="1", caller="X") == "1 missed call from X"


def test_plural_blocks_name_their_placeholders_and_must_offer_other():
    assert texts.placeholders(CALLS) == {"count", "caller"}
    with pytest.raises(ValueError, match="other"):
        texts.placeholders("{count, plural, one {one call}}")
    with pytest.raises(ValueError):
        texts.placeholders("{count, plural, one {one call} other {calls}")


def test_checker_compares_the_placeholders_inside_plural_blocks(tmp_path):
    body = GOOD.replace("Hello {name}", "Hello {name, plural, one {friend} other {{name} friends}}")
    assert problems_in(_write(tmp_path, body)) == []
    broken = body.replace("Salom {name}", "Salom {ism}")
    assert problems_in(_write(tmp_path, broken)) == [
        "sample.yaml: greeting [uz]: placeholders ['ism'] differ from en ['name']"]


COUNT_LIMITS = [f"transfer.refused.{who}{window}_count" for who in ("", "recipient_")
                for window in ("daily", "monthly", "rolling")]
# How a count limit of 1 must not read: "all 1 transfers", "the 1 transfer", "barcha 1 ta", "全部1次".
ALL_OF_ONE = {"en": ("all 1 ", "the 1 "), "ru": ("все 1 ", "1 перевод"), "uz": ("barcha 1 ",), "ky": ("бардык 1 ",),
              "zh": ("全部1",)}


@pytest.mark.parametrize("key", COUNT_LIMITS)
@pytest.mark.parametrize("language", texts.LANGUAGES)
def test_a_limit_of_one_transfer_is_not_all_1_transfers(key, language):
    one = texts.render(key, language, limit=1, days=1)
    assert not any(wording in one for wording in ALL_OF_ONE[language]), one
    assert texts.render(key, language, limit=3, days=7) != texts.render(key, language, limit=1, days=7)
