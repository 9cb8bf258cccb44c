"""Rules about where a VirtualService sends traffic: destination hosts, ports,
subsets and weights (route destinations and `mirror`/`mirrors` alike)."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from model.analysis.findings import ERROR, WARNING
from model.analysis.index import Index, as_list, fqdn, route_destinations, spec_of
from model.analysis.registry import rule

DESTINATION_HOSTS = "virtualservice.DestinationHostAnalyzer"
DESTINATION_RULES = "virtualservice.DestinationRuleAnalyzer"


def _seen_from(index: Index, vs: Mapping) -> list[str]:
    """Namespaces whose view of the hosts a VirtualService must hold in: its own, or
    those it is exported to when it names them."""
    own = index.ns(vs)
    export = [str(e) for e in as_list(spec_of(vs).get("exportTo"))]
    if not export or "*" in export:
        return [own]
    return list(dict.fromkeys(own if e == "." else e for e in export))


def _port(target: Mapping):
    number = (target.get("port") or {}).get("number") if isinstance(target.get("port"), Mapping) else None
    return int(number) if isinstance(number, (int, float)) else None


@rule("BM101", ERROR, "route or mirror destination host not found (no Service or ServiceEntry visible to it)",
      istio="IST0101", kiali="KIA1101", analyzer=DESTINATION_HOSTS)
def destination_host_not_found(index: Index) -> Iterable:
    for vs in index.of("VirtualService"):
        for where, target in route_destinations(vs):
            raw = str(target.get("host") or "")
            host = fqdn(raw, index.ns(vs))
            blind = [ns for ns in _seen_from(index, vs) if not index.lookup(host, ns)]
            if not raw:
                yield vs, f"{where}: destination names no host"
            elif blind:
                hint = (" (defined, but not exported there)" if index.known_anywhere(host) else
                        ": no Service or ServiceEntry defines it")
                yield vs, f"{where}: destination host {raw} ({host}) not found from namespace {', '.join(blind)}{hint}"


@rule("BM115", ERROR, "destination port not a port of the destination's Service or ServiceEntry",
      istio="IST0101", analyzer=DESTINATION_HOSTS)
def destination_port_not_found(index: Index) -> Iterable:
    for vs in index.of("VirtualService"):
        for where, target in route_destinations(vs):
            port = _port(target)
            found = index.lookup(fqdn(str(target.get("host") or ""), index.ns(vs)), index.ns(vs))
            ports = sorted({p for d in found for p in d.ports})
            if port is not None and ports and port not in ports:
                yield vs, (f"{where}: destination {target.get('host')} port {port} is not one of its ports "
                           f"({', '.join(map(str, ports))})")


@rule("BM116", ERROR, "destination without a port on a Service with several ports",
      istio="IST0112", analyzer=DESTINATION_HOSTS)
def destination_port_required(index: Index) -> Iterable:
    for vs in index.of("VirtualService"):
        for where, target in route_destinations(vs):
            found = index.lookup(fqdn(str(target.get("host") or ""), index.ns(vs)), index.ns(vs))
            ports = sorted({p for d in found for p in d.ports})
            if _port(target) is None and len(ports) > 1:
                yield vs, (f"{where}: destination {target.get('host')} has ports {', '.join(map(str, ports))}; "
                           "name one (destination.port.number)")


@rule("BM117", WARNING, "gateway route without a subset to a host other VirtualServices route by subsets",
      istio="IST0140", analyzer=DESTINATION_HOSTS)
def ingress_route_bypasses_subsets(index: Index) -> Iterable:
    by_subsets: dict[str, list[str]] = {}
    for vs in index.of("VirtualService"):
        for _, target in route_destinations(vs):
            if target.get("subset"):
                host = fqdn(str(target.get("host") or ""), index.ns(vs))
                by_subsets.setdefault(host, []).append(index.ref(vs))
    for vs in index.of("VirtualService"):
        if not as_list(spec_of(vs).get("gateways")):
            continue
        for where, target in route_destinations(vs):
            host = fqdn(str(target.get("host") or ""), index.ns(vs))
            others = sorted(set(by_subsets.get(host, [])) - {index.ref(vs)})
            if not target.get("subset") and others:
                yield vs, (f"{where}: route to {target.get('host')} names no subset, so the subsets VirtualService "
                           f"{', '.join(others)} routes to do not apply to requests through its gateways")


@rule("BM102", ERROR, "route or mirror subset not defined by a DestinationRule for its host",
      istio="IST0101", kiali="KIA1107", analyzer=DESTINATION_RULES)
def subset_not_defined(index: Index) -> Iterable:
    for vs in index.of("VirtualService"):
        for where, target in route_destinations(vs):
            subset = str(target.get("subset") or "")
            if not subset:
                continue
            raw = str(target.get("host") or "")
            host = fqdn(raw, index.ns(vs))
            rules = index.destination_rules_for(host, index.ns(vs))
            names = sorted({str(s.get("name")) for r in rules for s in as_list(spec_of(r).get("subsets"))
                            if isinstance(s, Mapping)})
            if subset in names:
                continue
            if not rules:
                yield vs, f"{where}: subset {subset} of {raw} is not defined: no DestinationRule for host {host}"
            else:
                shown = ", ".join(index.ref(r) for r in rules)
                yield vs, (f"{where}: subset {subset} of {raw} is not defined by DestinationRule {shown} "
                           f"(subsets: {', '.join(names) or 'none'})")


def route_rules(vs: Mapping) -> Iterable[tuple[str, list]]:
    """Every http, tls and tcp rule of a VirtualService: its label (`tcp[0] (name)`)
    and its destinations. Weights mean the same in all three."""
    for kind in ("http", "tls", "tcp"):
        for position, route_rule in enumerate(as_list(spec_of(vs).get(kind))):
            if isinstance(route_rule, Mapping):
                label = f"{kind}[{position}]" + (f" ({route_rule['name']})" if route_rule.get("name") else "")
                yield label, [d for d in as_list(route_rule.get("route")) if isinstance(d, Mapping)]


@rule("BM108", WARNING, "same host+subset twice in one route", kiali="KIA1105")
def duplicate_destination(index: Index) -> Iterable:
    for vs in index.of("VirtualService"):
        for label, destinations in route_rules(vs):
            keys = []
            for dest in destinations:
                target = dest.get("destination") or {}
                keys.append((fqdn(str(target.get("host") or ""), index.ns(vs)), str(target.get("subset") or "")))
            counts = Counter(keys)
            for position, (dest, key) in enumerate(zip(destinations, keys)):
                if counts[key] > 1:
                    target = dest.get("destination") or {}
                    shown = f"{target.get('host')} subset {key[1]}" if key[1] else str(target.get("host"))
                    yield vs, f"{label}: route[{position}] destination {shown} appears {counts[key]} times"


@rule("BM109", WARNING, "lone destination with 0 < weight < 100 (it gets 100%)", kiali="KIA1104")
def lone_partial_weight(index: Index) -> Iterable:
    for vs in index.of("VirtualService"):
        for label, destinations in route_rules(vs):
            weight = destinations[0].get("weight") if len(destinations) == 1 else None
            if isinstance(weight, (int, float)) and 0 < weight < 100:
                yield vs, f"{label}: lone destination has weight {weight}; Istio sends it 100%"


@rule("BM110", ERROR, "a negative weight, or all weights of a route zero", other="Istio validation webhook")
def invalid_weights(index: Index) -> Iterable:
    for vs in index.of("VirtualService"):
        for label, destinations in route_rules(vs):
            weights = [d.get("weight") for d in destinations]
            negative = [w for w in weights if isinstance(w, (int, float)) and w < 0]
            if negative:
                yield vs, f"{label}: weight below 0 ({', '.join(str(w) for w in negative)})"
            elif len(destinations) > 1 and sum(w for w in weights if isinstance(w, (int, float))) == 0:
                yield vs, f"{label}: weights of {len(destinations)} destinations are all zero"
