"""The one request type: services ask for what the edge read by collection and id, typed."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from pydantic import BaseModel

from functions.edge import api, ussd
from functions.edge.subscribers import Caller
from shared.operator import PROFILES_DIR, load_file

PROFILE = load_file(PROFILES_DIR / "demo.yaml")
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
ME = "+998901234567"


class Options(BaseModel):
    registered: bool


def request(found: dict) -> api.Request[ussd.UssdRequest]:
    dialled = ussd.UssdRequest(session_id="S", service_code="*577#", msisdn=ME, network_code="", inputs=())
    return api.Request(channel="ussd", input=dialled, caller=Caller(ME, True, "en"), profile=PROFILE,
                       documents=api.RequestDocuments(found), now=NOW)


def test_a_document_the_entry_read_comes_back_by_collection_and_id_and_an_absent_one_is_none():
    asked = request({("options", ME): {"registered": True}, ("offers", ME): None})
    assert asked.document("options", ME) == {"registered": True}
    assert asked.document("offers", ME) is None


def test_a_document_comes_back_as_the_model_asked_for():
    asked = request({("options", ME): {"registered": True}, ("offers", ME): None})
    assert asked.model("options", ME, Options) == Options(registered=True)
    assert asked.model("offers", ME, Options) is None


def test_asking_for_a_document_the_entry_did_not_read_is_a_bug_not_an_absence():
    asked = request({("options", ME): None})
    with pytest.raises(api.NotRead, match=f"offers/\\{ME} was not read for this request") as raised:
        asked.document("offers", ME)
    assert isinstance(raised.value, KeyError)
    with pytest.raises(api.NotRead):
        asked.document("options", "+998971300909")  # the same collection, someone else's document
    with pytest.raises(api.NotRead):
        request({}).model("options", ME, Options)
