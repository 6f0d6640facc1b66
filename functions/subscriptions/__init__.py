"""Subscription tracking: recurring services, packs and plan changes (spec/subscriptions-and-credits.md)."""
