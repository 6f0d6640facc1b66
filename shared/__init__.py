"""The package every function imports: events, runtime, storage, ledger, texts, adapters."""
