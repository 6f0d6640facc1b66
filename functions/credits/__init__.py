"""Communication credits with auto top-up (spec/subscriptions-and-credits.md, second half)."""
