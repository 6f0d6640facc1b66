"""Balance transfers: policies (presets as data), the authoritative decision, execution, vouchers, operator CLI."""
