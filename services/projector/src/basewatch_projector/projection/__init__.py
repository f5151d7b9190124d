"""The projection: a batch of records applied to the tables, and what is stored per
entity (customers, installations, signals, offsets)."""
