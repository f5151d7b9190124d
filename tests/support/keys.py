"""The API keys of the test services, and the Authorization headers that carry them."""

from __future__ import annotations

from basewatch_shared.settings import hash_key

INGEST_KEY = "test-ingest-key"
READ_KEY = "test-read-key"
TEST_KEYS = f"test-app:ingest:{hash_key(INGEST_KEY)},test-reader:read:{hash_key(READ_KEY)}"
INGEST_AUTH = {"Authorization": f"Bearer {INGEST_KEY}"}
READ_AUTH = {"Authorization": f"Bearer {READ_KEY}"}

# Two more keys next to the test-app/test-reader pair: a rotated ingest key (both are
# valid at once) and one key with both scopes.
ROTATED_KEY = "test-ingest-key-2026b"
BOTH_KEY = "test-both-key"
ERASE_KEY = "test-erase-key"  # the erase scope alone (docs/erasure.md)
INGEST_ERASE_KEY = "test-ingest-erase-key"
KEYS = ",".join(
    [
        TEST_KEYS,
        f"test-app-2026b:ingest:{hash_key(ROTATED_KEY)}",
        f"both:ingest+read:{hash_key(BOTH_KEY)}",
        f"test-dpo:erase:{hash_key(ERASE_KEY)}",
        f"test-dpo-app:ingest+erase:{hash_key(INGEST_ERASE_KEY)}",
    ]
)
ROTATED_AUTH = {"Authorization": f"Bearer {ROTATED_KEY}"}
BOTH_AUTH = {"Authorization": f"Bearer {BOTH_KEY}"}
ERASE_AUTH = {"Authorization": f"Bearer {ERASE_KEY}"}
INGEST_ERASE_AUTH = {"Authorization": f"Bearer {INGEST_ERASE_KEY}"}
# The master key of the test services (docs/erasure.md): public, like the keys above.
MASTER_KEY = "dGVzdC1tYXN0ZXIta2V5LW9mLTMyLWJ5dGVzLi4uLi4="
