"""Per-customer data keys: wrapped by the master key, kept on the keys topic (docs/erasure.md)."""
