"""What developers and demos run, never a service: a service process imports nothing here.

``dev`` (``basewatch dev``: the whole system on one machine), ``broker`` (the embedded
Kafka-compatible broker), ``processes`` (children that die with their parent) and
``simulation`` (``basewatch simulate``: realistic traffic for any ingest). The tests
hold the services to it (``tests/e2e/test_service_imports.py``).
"""
