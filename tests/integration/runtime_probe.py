"""A catalog consumer entry point whose handler only counts, for the push-path test."""

from shared import runtime
from tests.integration.test_runtime import welcome_counter


@runtime.consumer("provisioning-subscriber")
def on_subscriber(ctx, payload):
    welcome_counter(ctx, payload)
