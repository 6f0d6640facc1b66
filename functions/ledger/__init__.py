"""Ledger functions: the expiry sweep and the operator's invariant check (`python -m functions.ledger`)."""
