"""`ops backlog` in Google Cloud (Cloud Monitoring's answer, faked in its documented shape) and what
`ops seek` accepts before it touches anything."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from functions.ops import __main__ as ops_cli
from functions.ops import backlog, seek

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)


def point(value: int, end: datetime) -> dict:
    """One point as timeSeries.list returns it (int64 values are JSON strings)."""
    return {"interval": {"startTime": end.isoformat().replace("+00:00", "Z"),
                         "endTime": end.isoformat().replace("+00:00", "Z")},
            "value": {"int64Value": str(value)}}


def series(subscription: str, metric: str, *points: dict) -> dict:
    return {"metric": {"type": metric},
            "resource": {"type": "pubsub_subscription",
                         "labels": {"project_id": "vas-prod", "subscription_id": subscription}},
            "metricKind": "GAUGE", "valueType": "INT64", "points": list(points)}


class FakeMonitoring:
    """Answers timeSeries.list per metric filter, a page at a time, and records what was asked."""

    def __init__(self, pages_by_metric: dict[str, list[dict]]):
        self.pages_by_metric = pages_by_metric
        self.requests: list[tuple[str, dict]] = []

    def __call__(self, url, params):
        self.requests.append((url, dict(params)))
        metric = next(m for m in self.pages_by_metric if f'"{m}"' in params["filter"])
        page = int(params.get("pageToken", "0"))
        answer = dict(self.pages_by_metric[metric][page])
        if page + 1 < len(self.pages_by_metric[metric]):
            answer["nextPageToken"] = str(page + 1)
        return answer


def test_cloud_backlog_reads_the_newest_points_of_both_metrics_over_every_page():
    sampled = NOW - timedelta(minutes=2)
    fake = FakeMonitoring({
        backlog.UNDELIVERED_METRIC: [
            {"timeSeries": [series("notify-sms-send", backlog.UNDELIVERED_METRIC,
                                   point(120, sampled), point(40, sampled - timedelta(minutes=1)))]},
            {"timeSeries": [series("transfers-execute", backlog.UNDELIVERED_METRIC, point(0, sampled))]},
        ],
        backlog.OLDEST_AGE_METRIC: [
            {"timeSeries": [series("notify-sms-send", backlog.OLDEST_AGE_METRIC, point(900, sampled)),
                            series("transfers-execute", backlog.OLDEST_AGE_METRIC, point(0, sampled))]},
        ],
    })
    rows = backlog.MonitoringBacklog("vas-prod", fake).read(["notify-sms-send", "transfers-execute", "edge-x"], NOW)

    sms, transfers, unknown = rows
    assert sms == backlog.Backlog("notify-sms-send", undelivered=120, oldest_published=sampled - timedelta(seconds=900))
    assert sms.oldest_age(NOW) == timedelta(minutes=17), "the age is measured at the sample, not at the query"
    assert transfers == backlog.Backlog("transfers-execute", undelivered=0)
    assert unknown == backlog.Backlog("edge-x", exists=False)
    urls = {url for url, _ in fake.requests}
    assert urls == {"https://monitoring.googleapis.com/v3/projects/vas-prod/timeSeries"}
    assert len(fake.requests) == 3, "every page of the undelivered metric is read"


def test_monitoring_query_asks_for_one_metric_of_pubsub_subscriptions_over_the_recent_window():
    query = backlog.monitoring_query(backlog.OLDEST_AGE_METRIC, NOW)
    assert query["filter"] == ('metric.type = "pubsub.googleapis.com/subscription/oldest_unacked_message_age" '
                               'AND resource.type = "pubsub_subscription"')
    assert query["interval.endTime"] == "2026-12-01T10:00:00Z"
    assert query["interval.startTime"] == "2026-12-01T09:50:00Z"


@pytest.mark.parametrize("text, expected", [
    ("-15m", NOW - timedelta(minutes=15)),
    ("-1d12h", NOW - timedelta(days=1, hours=12)),
    ("-30s", NOW - timedelta(seconds=30)),
    ("2026-12-01T04:30:00Z", datetime(2026, 12, 1, 4, 30, tzinfo=timezone.utc)),
    ("2026-12-01T09:30:00+05:00", datetime(2026, 12, 1, 4, 30, tzinfo=timezone.utc)),
])
def test_seek_times_are_iso_8601_with_a_zone_or_a_time_ago(text, expected):
    assert seek.parse_time(text, NOW) == expected


@pytest.mark.parametrize("text, says", [
    ("yesterday", "is not a time"),
    ("-15 minutes", "is not a time"),
    ("2026-12-01T04:30:00", "has no time zone"),
    ("2026-12-01T10:05:00Z", "is in the future"),
])
def test_bad_seek_times_are_refused_with_the_reason(text, says):
    with pytest.raises(seek.SeekRefused, match=says):
        seek.parse_time(text, NOW)


def test_a_seek_past_the_oldest_undelivered_message_is_refused_unless_discarding_is_asked():
    waiting = backlog.Backlog("notify-sms-send", undelivered=7, oldest_published=NOW - timedelta(minutes=20))
    with pytest.raises(seek.SeekRefused, match="7 undelivered message.*--discard-older"):
        seek.plan("notify-sms-send", NOW - timedelta(minutes=15), waiting, discard_older=False)
    assert seek.plan("notify-sms-send", NOW - timedelta(minutes=15), waiting, discard_older=True)
    assert seek.plan("notify-sms-send", NOW - timedelta(minutes=25), waiting, discard_older=False)
    assert seek.plan("notify-sms-send", NOW, backlog.Backlog("notify-sms-send"), discard_older=False)


@pytest.fixture
def seeks(monkeypatch):
    """What the CLI would seek, recorded instead of done."""
    done = []
    monkeypatch.setattr(ops_cli, "seek_subscription", lambda *args: done.append(args) or 0)
    return done


def test_the_cli_takes_a_time_ago_after_to(seeks):
    assert ops_cli.main(["seek", "notify-sms-send", "--to", "-15m"]) == 0
    [(name, to, discard)] = seeks
    assert name == "notify-sms-send" and not discard
    assert timedelta(minutes=14) < datetime.now(timezone.utc) - to < timedelta(minutes=16)


@pytest.mark.parametrize("argv, says", [
    (["seek", "sms-send", "--to", "-15m"], "'sms-send' is not a catalog subscription; one of: "),
    (["seek", "notify-sms-send", "--to", "soon"], "'soon' is not a time"),
    (["seek", "notify-sms-send", "--to", "2099-01-01T00:00:00Z"], "is in the future"),
    (["seek", "notify-sms-send"], "the following arguments are required: --to"),
])
def test_the_cli_refuses_a_bad_subscription_or_time_with_exit_2(seeks, capsys, argv, says):
    with pytest.raises(SystemExit) as exit_:
        ops_cli.main(argv)
    assert exit_.value.code == 2
    assert says in capsys.readouterr().err
    assert not seeks
