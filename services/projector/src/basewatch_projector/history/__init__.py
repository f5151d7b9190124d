"""The bases over time: step maths, samples of the tables at each boundary, the recorder
that decides when a boundary is passed, and the series the read API serves."""
