"""``basewatch simulate``: realistic traffic for a running ingest.

``catalog`` (products, countries, prices), ``population`` (who the customers are),
``clock`` (simulated time and how it maps to ``occurred_at``), ``traffic`` (the events
a population sends over simulated time), ``expected`` (what the projector should show
for the events ingest accepted), ``sender`` (HTTP: batches, rate, retries),
``erasures`` (who is erased, and when, with the erase key), ``driver``
(the run loop), ``report`` (progress line and summary), ``runner`` (all of it wired
together) and ``command`` (the options; it imports ``runner`` only when run). The model
modules are pure and seeded.
"""
