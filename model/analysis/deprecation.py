"""Fields Istio still accepts but has deprecated or ignores: a VirtualService fault
delay's `percent` (an integer; `percentage.value` replaced it) and a Sidecar's
`outboundTrafficPolicy.egressProxy` (not implemented by the proxy)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from model.analysis.findings import WARNING
from model.analysis.index import Index, as_list, spec_of
from model.analysis.registry import rule


@rule("BM149", WARNING, "deprecated or ignored field (fault delay `percent`, Sidecar `egressProxy`)", istio="IST0002",
      analyzer="deprecation.DeprecationAnalyzer")
def deprecated_fields(index: Index) -> Iterable:
    for vs in index.of("VirtualService"):
        for position, route in enumerate(as_list(spec_of(vs).get("http"))):
            delay = ((route or {}).get("fault") or {}).get("delay") if isinstance(route, Mapping) else None
            if isinstance(delay, Mapping) and "percent" in delay:
                yield vs, (f"http[{position}].fault.delay.percent is deprecated: use "
                           f"percentage: {{value: {delay['percent']}}}")
    for sidecar in index.of("Sidecar"):
        policy = spec_of(sidecar).get("outboundTrafficPolicy")
        if isinstance(policy, Mapping) and "egressProxy" in policy:
            yield sidecar, "outboundTrafficPolicy.egressProxy is not supported by Istio's proxy and is ignored"
