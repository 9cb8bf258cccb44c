"""The weight rules (BM108 duplicate destination, BM109 lone partial weight, BM110
invalid weights) judge a VirtualService's tls and tcp rules as they judge its http
rules: Istio weighs their destinations alike."""
from __future__ import annotations

import pytest

from model.analysis import analyze
from tests.manifests import bookinfo, find


@pytest.mark.parametrize("protocol", ["tcp", "tls"])
def test_weight_rules_judge_tcp_and_tls_routes_by_their_label(protocol):
    objects = bookinfo()
    spec = find(objects, "VirtualService", "reviews")["spec"]
    spec.pop("http")
    match = [{"sniHosts": ["reviews"]}] if protocol == "tls" else [{"port": 9080}]
    spec[protocol] = [
        {"match": match, "route": [{"destination": {"host": "reviews", "subset": "v1"}, "weight": 0},
                                   {"destination": {"host": "reviews", "subset": "v1"}, "weight": 0}]},
        {"match": match, "route": [{"destination": {"host": "reviews", "subset": "v2"}, "weight": 40}]},
    ]
    messages = {(f.code, f.message) for f in analyze(objects) if f.name == "reviews"}
    # Each repetition is reported, as Kiali flags each repeated destination (KIA1105).
    assert {m for c, m in messages if c == "BM108"} == {
        f"{protocol}[0]: route[{n}] destination reviews subset v1 appears 2 times" for n in (0, 1)}
    assert ("BM110", f"{protocol}[0]: weights of 2 destinations are all zero") in messages
    assert ("BM109", f"{protocol}[1]: lone destination has weight 40; Istio sends it 100%") in messages
