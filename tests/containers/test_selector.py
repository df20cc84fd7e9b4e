"""-l reads kubectl's label selector syntax, and says where a selector is malformed."""

from __future__ import annotations

import pytest

from espia.containers.selector import parse_labels
from espia.errors import UsageError

WEB = {"app": "web", "tier": "front", "replicas": "3"}


@pytest.mark.parametrize(
    ("text", "holds"),
    [
        ("app=web", True),
        ("app==web", True),
        ("app!=web", False),
        ("app!=db", True),
        ("missing!=x", True),  # as in Kubernetes: != holds without the label
        ("app in (db, web)", True),
        ("app in (db)", False),
        ("app notin (db,cache)", True),
        ("missing notin (a)", True),
        ("missing in (a)", False),
        ("tier", True),
        ("!tier", False),
        ("!missing", True),
        ("replicas>2,replicas<4", True),
        ("replicas>3", False),
        ("app=web, tier in (front,back) ,!canary", True),
        ("app=web,tier=back", False),
        ("example.com/role=x", False),
        ("app=", False),
    ],
)
def test_selector_terms_hold_as_in_kubernetes(text, holds):
    assert all(term.holds(WEB) for term in parse_labels(text)) is holds


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("app in (a,b", "expected , or ) in a set of values at column 12"),
        ("app in a", "expected ( after in or notin"),
        ("=x", "expected a label key at column 1"),
        ("app web", "expected an operator after 'app'"),
        ("app=web,,x", "expected a label key at column 9"),
        ("app=w b", "expected , between requirements"),
        ("n>x", "n> needs a whole number"),
        ("app=-bad", "expected , between requirements"),
    ],
)
def test_malformed_selectors_are_usage_errors(text, says):
    with pytest.raises(UsageError, match=says.replace("(", r"\(").replace(")", r"\)")):
        parse_labels(text)
