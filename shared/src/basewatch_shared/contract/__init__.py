"""The event contract: what product apps send, and what travels on Kafka (docs/events.md).

``limits`` (the numbers), ``scalars`` (identifiers, texts, ISO codes, counters),
``timestamps`` (RFC 3339), ``money`` (exact amounts), ``properties`` (the free-form
tree), ``traits`` (identify's traits), ``base`` (the models' shared configuration),
``events`` (the five events and the one ``EVENT_ADAPTER``), ``errors`` (validation
errors told to clients), ``records`` (an event as a Kafka record), ``vocabulary`` (the
words of states and signals) and ``jsonschema`` (how the rules are documented). The
fast paths, with the models as their reference: ``native`` (the rules as pydantic-core
schemas), ``intake`` (client events into record values, for ingest) and ``recorded``
(record values into the models, for the projector's ``records.decode_record``). Each
name is imported from the module that defines it; this package re-exports nothing.
"""
