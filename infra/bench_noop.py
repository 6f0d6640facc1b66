"""The benchmark's raw ceiling: a CloudEvent function that does nothing but count deliveries."""

import os

import functions_framework
from cloudevents.http import CloudEvent

_COUNT_FILE = os.environ.get("VAS_BENCH_COUNT_FILE", "/dev/null")


@functions_framework.cloud_event
def noop(cloud_event: CloudEvent) -> None:
    # One byte appended per delivery: the benchmark reads the file's size as the count.
    with open(_COUNT_FILE, "ab") as counter:
        counter.write(b".")
