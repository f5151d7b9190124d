"""The projection's rules: pure functions and values, no I/O (the bottom layer)."""
