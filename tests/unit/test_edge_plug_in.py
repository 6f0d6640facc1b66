"""A service plugs into USSD, SMS and voice from its own folder, with no edit under functions/edge/.

The ping service (tests/fixtures/ping_service) lives outside functions/; discovery is handed its
package next to the ones it finds, and the real webhooks (functions-framework, with the subscriber
lookup and the publisher stood in for) route a USSD code, a keyword in each language and a call to
a number nobody serves to it, while the services already there keep their own requests.
"""

from __future__ import annotations

import pytest

from functions.edge import lookup, services
from functions.edge.request import RequestDocuments
from functions.edge.subscribers import caller_from
from shared import runtime, store
from tests.fixtures.ping_service import edge as ping
from tests.unit.test_edge_webhooks import MSISDN, client, twilio_post, ussd_post  # noqa: F401 (client: a fixture)

PING = "tests.fixtures.ping_service"


@pytest.fixture
def webhook(client, monkeypatch):  # noqa: F811 (`client` is the webhooks test module's fixture, used here)
    """`webhook(target)`: a test client of one webhook of an edge that discovers the ping service too;
    what it publishes is collected in `webhook.published`, the caller's language set in `webhook.language`."""
    found = services.service_packages()
    monkeypatch.setattr(services, "service_packages", lambda: (*found, PING))
    published: list[tuple[str, object]] = []
    language = ["en"]

    def read_all(db, msisdn, profile, *, with_account, now, extra=()):
        record = {"status": "active", "language": language[0]}
        documents = RequestDocuments({(store.SUBSCRIBERS, msisdn): record, **{where: None for where in extra}})
        return lookup.Lookup(caller=caller_from(msisdn, record, profile), account=None, documents=documents)

    monkeypatch.setattr(lookup, "read_all", read_all)
    monkeypatch.setattr(runtime, "publish_new", lambda topic, payload, **_: published.append((topic, payload)))
    client.published, client.language = published, language
    return client


def test_discovery_finds_the_services_under_functions_without_a_list():
    assert services.service_packages() == ("functions.credits", "functions.ledger", "functions.missed_calls",
                                           "functions.subscriptions",
                                           "functions.transfers", "functions.voice_plus", "functions.zero_balance")


def test_a_new_services_ussd_code_is_served_and_listed_in_the_help(webhook):
    app = webhook("ussd")
    response = ussd_post(app, {"sessionId": "S1", "serviceCode": ping.CODE, "phoneNumber": MSISDN})
    assert response.data.decode() == f"END {ping.SCREEN}"
    assert [topic for topic, _ in webhook.published] == ["ping.dialled"]
    balance = ussd_post(app, {"sessionId": "S2", "serviceCode": "*100#", "phoneNumber": MSISDN})
    assert balance.data.decode().startswith("END Your balance")          # the ledger's code is still its own
    help_pages, more = [], []
    while not help_pages or help_pages[-1].startswith("CON") and len(help_pages) < 10:
        form = {"sessionId": "S3", "serviceCode": "*999#", "phoneNumber": MSISDN, "text": "*".join(more)}
        help_pages.append(ussd_post(app, form).data.decode())
        more.append("1")
    assert ping.CODE in help_pages[-1] and help_pages[-1].startswith("END")   # listed last: the lowest priority


@pytest.mark.parametrize("language", sorted(ping.WORDS))
def test_a_new_services_keyword_is_answered_in_every_language(webhook, language):
    webhook.language[0] = language
    app = webhook("sms_inbound")
    [word] = ping.WORDS[language]
    response = twilio_post(app, {"MessageSid": "SM1", "From": MSISDN, "To": "21112", "Body": word.lower()})
    assert response.status_code == 200
    assert webhook.published == [("ping.texted", {"word": word.casefold()})]   # and no reply of the edge's


def test_other_keywords_and_short_codes_keep_their_services(webhook):
    app = webhook("sms_inbound")
    twilio_post(app, {"MessageSid": "SM2", "From": MSISDN, "To": "21112", "Body": "BALANCE"})
    [(topic, reply)] = webhook.published
    assert topic == "sms.send" and reply.template == "edge.balance.report"


def test_a_call_to_a_number_nobody_serves_reaches_the_new_service_after_every_service_number(webhook):
    app = webhook("voice_inbound")
    twilio_post(app, {"CallSid": "CA1", "From": MSISDN, "To": "+998712999999"})
    assert webhook.published == [("ping.called", {"called": "+998712999999"})]
    pay_card = twilio_post(app, {"CallSid": "CA2", "From": MSISDN, "To": "0670"}).data.decode()
    assert "<Gather" in pay_card and len(webhook.published) == 1          # 0670 stays the pay-card line
    forwarded = twilio_post(app, {"CallSid": "CA3", "From": MSISDN, "To": "+998712999999",
                                  "ForwardedFrom": "+998911112233"}).data.decode()
    assert "cannot be reached" in forwarded and len(webhook.published) == 1   # the missed-call IVR's answer
