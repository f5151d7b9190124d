"""Which metrics a PromQL expression reads, and which names a /metrics page exposes.

Not a PromQL parser: enough of the grammar to find the metric names in the
expressions that deploy/ holds (selectors, functions, aggregations with by/without,
vector matching, ranges, subqueries, offsets, strings and numbers).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from prometheus_client.parser import text_string_to_metric_families

_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
# An identifier not glued to a number before it (the "m" of "10m", the "e3" of "1e3").
_IDENTIFIER = re.compile(r"(?<![\w.:])[A-Za-z_:][A-Za-z0-9_:]*")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right"}
    | {"offset", "bool", "inf", "nan", "atan2"}
)

# What each metric type exposes besides (or instead of) its family name.
_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
    "gauge": ("",),
    "unknown": ("",),
    "untyped": ("",),
    "info": ("_info",),
    "stateset": ("",),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
}


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (functions and keywords left out)."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _LABEL_LIST.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        word = match.group()
        followed_by = text[match.end() :].lstrip()[:1]
        if followed_by == "(" or word.lower() in _KEYWORDS:
            continue  # a function, an aggregation, or an operator
        names.add(word)
    return names


def exposed_names(exposition: str) -> set[str]:
    """Every name a query may use for the families of a Prometheus text exposition.

    A counter family ``x`` is queried as ``x_total``, a histogram ``h`` as ``h_bucket``,
    ``h_sum`` and ``h_count``; families with no samples yet (a labelled metric before
    its first label set) count too: they are exported, only not observed yet.
    """
    names = set()
    for family in text_string_to_metric_families(exposition):
        for suffix in _SUFFIXES.get(family.type, ("",)):
            names.add(family.name + suffix)
    return names


def families(exposition: str) -> dict[str, str]:
    """Family name -> type, without the ``_created`` gauges prometheus_client adds."""
    found = {}
    for family in text_string_to_metric_families(exposition):
        if not family.name.endswith("_created"):
            found[family.name] = family.type
    return found


def label_names(exposition: str) -> set[str]:
    """Every label name used by a sample of the exposition."""
    return {
        label
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        for label in sample.labels
    }


def referenced(expressions: Iterable[str]) -> set[str]:
    """The union of the metric names of several expressions."""
    return set().union(*(metric_names(e) for e in expressions))
