"""Locality failover needs outlier detection: Envoy drops to a lower priority only
when unhealthy hosts are ejected (Istio enables failover only with an
`outlierDetection`), so a `failover` or `failoverPriority` without one never fails over."""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from model.analysis.findings import WARNING
from model.analysis.index import Index, as_list, spec_of
from model.analysis.registry import rule


def _failover(policy: Mapping) -> bool:
    setting = ((policy.get("loadBalancer") or {}).get("localityLbSetting") or {})
    return setting.get("enabled", True) is not False and bool(setting.get("failover") or setting.get("failoverPriority"))


def _policies(spec: Mapping) -> Iterable[tuple[str, Mapping]]:
    """(where, effective policy): the top level, each port of it, each subset over it
    (a subset's fields replace the top level's)."""
    top = spec.get("trafficPolicy") or {}
    yield "trafficPolicy", top
    for port in as_list(top.get("portLevelSettings")):
        if isinstance(port, Mapping):
            number = (port.get("port") or {}).get("number")
            yield f"port {number}", {**top, **port}
    for subset in as_list(spec.get("subsets")):
        if isinstance(subset, Mapping) and subset.get("trafficPolicy"):
            yield f"subset {subset.get('name')}", {**top, **subset["trafficPolicy"]}


@rule("MC113", WARNING, "DestinationRule locality failover without outlierDetection (failover never happens)",
      other="istiod enables failover only with outlier detection (loadbalancer.go)")
def failover_without_outlier_detection(index: Index) -> Iterable:
    for dr in index.of("DestinationRule"):
        for where, policy in _policies(spec_of(dr)):
            if isinstance(policy, Mapping) and _failover(policy) and not policy.get("outlierDetection"):
                yield dr, (f"{where}: localityLbSetting failover without outlierDetection: Envoy never drops to "
                           "another locality")
