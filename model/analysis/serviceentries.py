"""Rules about ServiceEntries against each other: the same host and port declared
twice, or with different protocols (which one a proxy uses is undefined)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from model.analysis.findings import WARNING
from model.analysis.index import Index, as_list, spec_of
from model.analysis.registry import rule


@rule("BM158", WARNING, "ServiceEntries declaring the same host and port twice, or with different protocols",
      kiali="KIA1211/KIA1212")
def service_entries_collide(index: Index) -> Iterable:
    ports: dict[tuple[str, object], list[tuple[Mapping, str]]] = {}
    for entry in index.of("ServiceEntry"):
        spec = spec_of(entry)
        for host in dict.fromkeys(str(h) for h in as_list(spec.get("hosts"))):
            for port in as_list(spec.get("ports")):
                if isinstance(port, Mapping) and port.get("number") is not None:
                    protocol = str(port.get("protocol") or "").upper()
                    ports.setdefault((host, port["number"]), []).append((entry, protocol))
    for (host, number), claims in ports.items():
        entries = {id(e): e for e, _ in claims}
        if len(entries) < 2:
            continue
        protocols = {p for _, p in claims}
        for entry, protocol in claims:
            others = ", ".join(index.ref(o) for o in entries.values() if o is not entry)
            if len(protocols) > 1:
                yield entry, (f"host {host} port {number} is {protocol or 'unset'} here and "
                              f"{'/'.join(sorted(p or 'unset' for p in protocols - {protocol}))} in ServiceEntry "
                              f"{others}: which protocol applies is undefined"), None, "KIA1212"
            else:
                yield entry, f"host {host} port {number} is also declared by ServiceEntry {others}", None, "KIA1211"
