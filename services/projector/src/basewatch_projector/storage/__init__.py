"""The database: engine, tables, multi-row statements, migrations, and which errors are
an outage (the bottom layer, beside ``rules``)."""
