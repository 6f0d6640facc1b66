"""Cost per event: the counting layer around the Firestore client and the publisher (shared/metering.py), the
price arithmetic and the figures over several runs (infra/cost.py, infra/bench_common.py)."""

from __future__ import annotations

import json
import os

import pytest
from google.api_core.exceptions import Aborted
from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore
from google.cloud.firestore_v1.types import (
    BatchGetDocumentsResponse,
    CommitRequest,
    CommitResponse,
    Document,
    RunQueryResponse,
    Write,
)

from infra import bench_common, cost
from shared import metering
from shared.metering import Counts, Meter, MeteredFirestoreApi

DOC = "projects/p/databases/(default)/documents/c/"


class FakeApi:
    """Answers as the Firestore API would; records nothing itself."""

    def __init__(self) -> None:
        self.other_calls = 0

    def batch_get_documents(self, request: object = None, **_: object):
        yield BatchGetDocumentsResponse(transaction=b"t")  # the first answer of a transaction: no document
        yield BatchGetDocumentsResponse(found=Document(name=DOC + "a"))
        yield BatchGetDocumentsResponse(missing=DOC + "b")

    def run_query(self, request: object = None, **_: object):
        for name in ("a", "b", "c"):
            yield RunQueryResponse(document=Document(name=DOC + name))
        yield RunQueryResponse()  # the end of the stream carries no document

    def commit(self, request: object = None, **_: object) -> CommitResponse:
        return CommitResponse()

    def begin_transaction(self, **_: object) -> str:
        self.other_calls += 1
        return "passed through"


def _commit(transaction: bytes, updates: int, deletes: int) -> CommitRequest:
    writes = [Write(update=Document(name=DOC + str(i))) for i in range(updates)]
    writes += [Write(delete=DOC + f"gone{i}") for i in range(deletes)]
    return CommitRequest(database="projects/p/databases/(default)", writes=writes, transaction=transaction)


def test_every_billed_operation_is_counted_as_firestore_bills_it():
    meter, fake = Meter(), FakeApi()
    api = MeteredFirestoreApi(fake, meter)

    list(api.batch_get_documents(request={}))  # one found, one missing: both billed
    list(api.run_query(request={}))  # three documents returned
    list(FakeApiWithEmptyQuery().run_query_through(meter))  # a query that returns nothing: one read
    api.commit(request=_commit(b"txn", updates=3, deletes=1))
    api.commit(request={"writes": [{"update": {"name": DOC + "x"}}], "transaction": b""})  # a plain batch
    assert api.begin_transaction() == "passed through" and fake.other_calls == 1

    assert meter.snapshot() == Counts(reads=2 + 3 + 1, writes=3 + 1, deletes=1, commits=1)


class FakeApiWithEmptyQuery(FakeApi):
    def run_query(self, request: object = None, **_: object):
        yield RunQueryResponse()

    def run_query_through(self, meter: Meter):
        return MeteredFirestoreApi(self, meter).run_query(request={})


def test_a_metered_client_sends_its_calls_through_the_counter(monkeypatch):
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:1")  # built, never called
    client = firestore.Client(project="p", credentials=AnonymousCredentials())
    meter = Meter()
    metered = metering.metered_client(client, meter)
    assert isinstance(metered._firestore_api, MeteredFirestoreApi)
    assert metered._firestore_api is metered._firestore_api  # built once, kept


def test_metering_is_off_outside_a_metered_function_process(monkeypatch, tmp_path):
    metering.process_meter.cache_clear()
    monkeypatch.setenv(metering.METER_DIR_VARIABLE, str(tmp_path))
    monkeypatch.delenv(metering.FUNCTION_VARIABLE, raising=False)  # the bench itself, a test
    try:
        assert metering.process_meter() is None
        metering.count_published([b"x"])  # a no-op, not an error
        assert list(tmp_path.iterdir()) == []
    finally:
        metering.process_meter.cache_clear()


def test_each_process_writes_its_totals_and_the_bench_reads_them(tmp_path):
    metering.write(Counts(reads=4, writes=2, invocations=1), tmp_path / "notify-101.json")
    metering.write(Counts(reads=1, published=2, published_bytes=300), tmp_path / "edge-ussd-102.json")
    (tmp_path / "notify-103.json").write_text("{")  # being replaced while read: skipped, read next time
    found = metering.read_all(tmp_path)
    assert found == {
        "edge-ussd-102": Counts(reads=1, published=2, published_bytes=300),
        "notify-101": Counts(reads=4, writes=2, invocations=1),
    }
    assert sum(found.values(), Counts()) - Counts(reads=5) == Counts(
        writes=2, published=2, published_bytes=300, invocations=1
    )
    assert json.loads((tmp_path / "notify-101.json").read_text())["reads"] == 4


def test_a_forked_worker_counts_from_zero():
    meter = Meter()
    meter.add(reads=3, invocations=1)
    assert meter.restart().snapshot() == Counts()  # gunicorn's worker: the loading process's counts stay its own
    meter.add(writes=1)
    assert meter.snapshot() == Counts(writes=1)


def test_dollars_per_million_events_at_list_prices():
    dollars = cost.dollars_per_million(
        reads=10, writes=5, deletes=2, published=1, message_bytes=200, invocations=3, cpu_ms=50
    )
    # Firestore: 10 × 1e6 / 1e5 × 0.06 + 5 × 10 × 0.18 + 2 × 10 × 0.02
    assert dollars["Firestore"] == pytest.approx(6.0 + 9.0 + 0.4)
    # Pub/Sub: the publish and the delivery, each billed at 1000 bytes at least, $40 a TiB.
    assert dollars["Pub/Sub"] == pytest.approx(2 * 1000 * 1e6 / 2**40 * 40)
    # Cloud Run: 3 requests at $0.40 a million, and 50 ms of CPU at $0.000024 a vCPU-second.
    assert dollars["Cloud Run"] == pytest.approx(3 * 0.40 + 1e6 * 0.05 * 0.000024)
    bigger = cost.dollars_per_million(0, 0, 0, published=1, message_bytes=4000, invocations=0, cpu_ms=0)
    assert bigger["Pub/Sub"] == pytest.approx(2 * 4000 * 1e6 / 2**40 * 40)


def test_a_minimum_composes_from_its_parts():
    transfer = (
        cost.Minimum(reads=7, writes=8, commits=1, published=3, delivered=1, invocations=2) + 2 * cost.SMS_MINIMUM
    )
    assert transfer == cost.Minimum(reads=19, writes=24, commits=7, published=7, delivered=7, invocations=12)
    assert cost.SMS_MINIMUM == cost.Minimum(reads=6, writes=8, commits=3, published=2, delivered=3, invocations=5)


def test_usage_per_event_counts_deliveries_as_consumer_invocations():
    usage = cost.Usage.per_event(
        Counts(reads=20, writes=10, invocations=8, published=4, published_bytes=800),
        {"edge-ussd": 2, "transfers": 2, "notify": 4, "idle": 0},
        consumers={"transfers", "notify"},
        cpu_seconds=0.5,
        events=2,
    )
    assert (usage.reads, usage.writes, usage.invocations, usage.delivered, usage.cpu_ms) == (10, 5, 4, 3, 250)
    assert usage.by_function == {"edge-ussd": 1, "notify": 2, "transfers": 1}


def test_cpu_time_of_the_stack_process_groups_from_proc(tmp_path):
    ticks = os.sysconf("SC_CLK_TCK")

    def stat(pid: int, name: str, group: int, user: int, system: int) -> None:
        fields = ["S", "1", str(group)] + ["0"] * 8 + [str(user), str(system), "0", "0"] + ["0"] * 30
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(f"{pid} ({name}) " + " ".join(fields))

    stat(10, "python -m functions_framework", 10, ticks, ticks)  # a name with spaces and brackets
    stat(11, "gunicorn: worker", 10, 2 * ticks, 0)
    stat(20, "someone else", 20, 100 * ticks, 0)
    assert cost.process_cpu_seconds({10}, proc=tmp_path) == pytest.approx(4.0)


def test_a_cost_line_prints_the_minimum_and_the_ratio():
    line = bench_common.Cost("cost transfer", "FS writes", 18.0, "/transfer", 16.0, "target ratio ≤ 1.25").line()
    assert "18.00" in line and "minimum  16.00" in line and "ratio  1.12" in line and "target" in line
    assert "ratio" not in bench_common.Cost("", "CPU", 3.0, "ms/SMS").line()


def test_figures_over_runs_print_the_median_and_the_spread():
    runs = [
        [bench_common.Rate("tx ceiling", value, "/s", "note", gave_up=gave_up), bench_common.Latency("x", 1, p99, "n")]
        for value, gave_up, p99 in ((56.0, 0, 30.0), (253.0, 3, 10.0), (120.0, 1, 20.0))
    ]
    rate, latency = bench_common.summarise(runs)
    assert isinstance(rate, bench_common.Rate) and isinstance(latency, bench_common.Latency)
    assert rate.value == 120.0 and rate.gave_up == 4
    assert rate.line().endswith("(note; 4 gave up under contention, not counted)  [3 runs: 56.0–253.0]")
    assert latency.p99 == 20.0 and "[3 runs: p99 10.0–30.0]" in latency.line()
    cost_runs = [[bench_common.Cost("cost", "FS writes", v, "/t", 10.0)] for v in (12.0, 11.0, 14.0)]
    (summary,) = bench_common.summarise(cost_runs)
    assert "ratio  1.20" in summary.line() and "ratio 1.10–1.40" in summary.line()


def test_runs_that_disagree_on_their_figures_are_refused():
    with pytest.raises(ValueError, match="disagree"):
        bench_common.summarise([[bench_common.Rate("a", 1, "", "")], [bench_common.Rate("b", 1, "", "")]])


@pytest.mark.parametrize(
    "error, gave_up",
    [
        (ValueError("Failed to commit transaction in 5 attempts."), True),
        (Aborted("Transaction lock timeout."), True),
        (ValueError("bad document"), False),
    ],
)
def test_a_ceiling_transaction_gives_up_only_for_contention(error, gave_up):
    assert bench_common._gave_up(error) is gave_up


def test_resident_memory_of_each_process_group_from_proc(tmp_path):
    page = os.sysconf("SC_PAGE_SIZE")

    def stat(pid: int, group: int, pages: int) -> None:
        fields = ["S", "1", str(group)] + ["0"] * 18 + [str(pages)] + ["0"] * 30  # rss: the 24th field
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(f"{pid} (python -m functions_framework) " + " ".join(fields))

    stat(10, 10, 1000)  # functions-framework's process
    stat(11, 10, 3000)  # its gunicorn worker
    stat(20, 20, 500)
    stat(30, 30, 7)  # another group, not asked for
    assert cost.process_rss_bytes({10, 20, 40}, proc=tmp_path) == {10: 4000 * page, 20: 500 * page, 40: 0}
