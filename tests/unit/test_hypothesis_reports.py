"""A failing hypothesis example is reported with the values it drew, in this suite too."""

from __future__ import annotations

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st


def test_a_failing_example_is_reported_with_the_values_it_drew() -> None:
    # Schemathesis' plugin, loaded in every run of this suite, had swapped hypothesis'
    # printer for a silent one: the report read "drawn=," (tests/conftest.py restores it).
    @settings(database=None, phases=[Phase.generate], max_examples=1)
    @given(drawn=st.just(["event-1", "event-2"]))
    def fails(drawn: list[str]) -> None:
        assert not drawn

    with pytest.raises(AssertionError) as failure:
        fails()
    notes = "\n".join(getattr(failure.value, "__notes__", []))
    assert "drawn=['event-1', 'event-2']" in notes, notes
