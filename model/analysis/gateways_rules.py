"""Rules about Gateways: the workload they select, its Service's ports, conflicts
between Gateways, and the TLS Secrets their servers name (`credentialName`)."""
from __future__ import annotations

import base64
import binascii
import warnings
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone

from model.analysis.findings import ERROR, WARNING
from model.analysis.index import Index, Workload, as_list, hosts_overlap, labels_text, spec_of
from model.analysis.registry import rule

PORTS = "gateway.IngressGatewayPortAnalyzer"
SECRETS = "gateway.SecretAnalyzer"


def _selector(gateway: Mapping) -> dict:
    selector = spec_of(gateway).get("selector")
    return dict(selector) if isinstance(selector, Mapping) else {}


def _servers(gateway: Mapping) -> list[Mapping]:
    return [s for s in as_list(spec_of(gateway).get("servers")) if isinstance(s, Mapping)]


def _workloads(index: Index, gateway: Mapping) -> list[Workload]:
    return index.gateway_workloads(gateway)


def _assumed_note(workloads: list[Workload]) -> str:
    notes = sorted({w.assumed for w in workloads if w.assumed})
    return f" [gateway {'; '.join(notes)}]" if notes else ""


@rule("BM106", ERROR, "Gateway selector matches no gateway workload", istio="IST0101", kiali="KIA0302",
      analyzer=(PORTS, SECRETS),
      level_doc="error when the gateways are known (a stack's own install, or --gateway); else warning")
def selector_matches_nothing(index: Index) -> Iterable:
    known = sorted({labels_text(w.labels) for w in index.workloads if w.assumed})
    for gateway in index.of("Gateway"):
        selector = _selector(gateway)
        if not selector or _workloads(index, gateway):
            continue
        message = (f"selector {labels_text(selector)} matches no gateway workload "
                   f"(gateways: {'; '.join(known) or 'none'})")
        if index.gateways_known:
            yield gateway, message
        else:
            yield gateway, (message + "; none among the files or the assumed default: if the cluster runs one, "
                            "pass it with --gateway"), WARNING


@rule("BM114", WARNING, "Gateway server port not a port (or target port) of the selected gateway's Services",
      istio="IST0162", analyzer=PORTS)
def port_not_on_gateway_service(index: Index) -> Iterable:
    for gateway in index.of("Gateway"):
        workloads = _workloads(index, gateway)
        if not workloads:
            continue
        services = {id(s): s for w in workloads for s in index.services_selecting(w)}.values()
        exposed: set[int] = set()
        for service in services:
            for port in as_list(spec_of(service).get("ports")):
                for key in ("port", "targetPort"):
                    if isinstance((port or {}).get(key), (int, float)):
                        exposed.add(int(port[key]))
        shown = ", ".join(index.ref(s) for s in services) or "none selects it"
        for server in _servers(gateway):
            number = (server.get("port") or {}).get("number")
            if isinstance(number, (int, float)) and int(number) not in exposed:
                yield gateway, (f"server port {int(number)} is not a port of gateway Service {shown} "
                                f"(ports: {', '.join(map(str, sorted(exposed))) or 'none'})"
                                f"{_assumed_note(workloads)}")


def _ports(gateway: Mapping) -> set:
    return {(s.get("port") or {}).get("number") for s in _servers(gateway) if (s.get("port") or {}).get("number")}


def _hosts(gateway: Mapping, port) -> list[str]:
    return [str(h).split("/", 1)[-1] for s in _servers(gateway) if (s.get("port") or {}).get("number") == port
            for h in as_list(s.get("hosts"))]


@rule("BM123", ERROR, "two Gateways on the same workload claim the same port and host", istio="IST0145",
      analyzer="gateway.ConflictingGatewayAnalyzer")
def conflicting_gateways(index: Index) -> Iterable:
    gateways = index.of("Gateway")
    candidates = _sharing_port_and_host(gateways)
    for position, gateway in enumerate(gateways):
        mine = {id(w) for w in _workloads(index, gateway)}
        clashes = []
        for other in (gateways[p] for p in sorted(candidates.get(position, ()))):
            if other is gateway:
                continue
            theirs = {id(w) for w in _workloads(index, other)}
            same_pods_unseen = not mine and not theirs and _selector(gateway) == _selector(other) and \
                (not index.gateways_scoped or index.ns(gateway) == index.ns(other))
            if not (mine & theirs or same_pods_unseen):
                continue
            for port in sorted(_ports(gateway) & _ports(other)):
                hosts = [h for h in _hosts(gateway, port) if any(hosts_overlap(h, o) for o in _hosts(other, port))]
                if hosts:
                    clashes.append(f"{index.ref(other)} (port {port}, {', '.join(hosts)})")
        if clashes:
            yield gateway, f"conflicts with Gateway {'; '.join(clashes)} on the same workload"


def _sharing_port_and_host(gateways: list[Mapping]) -> dict[int, set[int]]:
    """Gateway position → positions of the Gateways with a server on one of its ports
    whose host equals or covers one of its hosts there (both ways), found by lookup
    rather than by pairing every Gateway with every other."""
    claims: dict[tuple, list[int]] = {}
    for position, gateway in enumerate(gateways):
        for port in _ports(gateway):
            for host in _hosts(gateway, port):
                claims.setdefault((port, host.lower()), []).append(position)
    out: dict[int, set[int]] = {}
    for (port, host), holders in claims.items():
        for key in [host, *(k for k in _host_keys(host) if k != host)]:
            for other in claims.get((port, key), ()):
                for position in holders:
                    out.setdefault(position, set()).add(other)
                    out.setdefault(other, set()).add(position)
    return out


def _credentials(gateway: Mapping) -> list[str]:
    return [str(s["tls"]["credentialName"]) for s in _servers(gateway)
            if isinstance(s.get("tls"), Mapping) and s["tls"].get("credentialName")]


def _same_secret(index: Index, gateway: Mapping, other: Mapping) -> bool:
    """A credentialName resolves in the namespace of the gateway pods: one name on
    gateway pods of different namespaces is two Secrets."""
    mine, theirs = (set(_secret_namespaces(index, g)) for g in (gateway, other))
    return not mine or not theirs or bool(mine & theirs)


@rule("BM124", WARNING, "one TLS credential on several Gateways of the same workloads (HTTP/2 connection reuse 404s)",
      istio="IST0138", analyzer="gateway.CertificateAnalyzer")
def duplicate_certificate(index: Index) -> Iterable:
    gateways = index.of("Gateway")
    for gateway in gateways:
        selector = _selector(gateway).items()
        for name in dict.fromkeys(_credentials(gateway)):
            sharing = [o for o in gateways if o is not gateway and name in _credentials(o)
                       and selector <= _selector(o).items() and _same_secret(index, gateway, o)]
            if sharing:
                yield gateway, (f"credential {name} is also used by Gateway "
                                f"{', '.join(index.ref(o) for o in sharing)}: clients reusing an HTTP/2 "
                                "connection across their hosts get 404s")
                break


def _secret_namespaces(index: Index, gateway: Mapping) -> list[str]:
    return sorted({w.namespace for w in _workloads(index, gateway)})


@rule("BM122", WARNING, "Gateway credentialName Secret not among the objects", istio="IST0101", analyzer=SECRETS)
def credential_secret_missing(index: Index) -> Iterable:
    secrets = {(index.ns(s), str((s.get("metadata") or {}).get("name"))) for s in index.of("Secret")}
    for gateway in index.of("Gateway"):
        for namespace in _secret_namespaces(index, gateway):
            for name in dict.fromkeys(_credentials(gateway)):
                if (namespace, name) not in secrets:
                    yield gateway, (f"credentialName {name}: no Secret {namespace}/{name} among the objects "
                                    f"(the gateway runs in {namespace}); it must exist in the cluster there")


def _credential_problem(secret: Mapping) -> str | None:
    data = secret.get("data") if isinstance(secret.get("data"), Mapping) else {}
    cert_key, key_key = ("tls.crt", "tls.key") if "tls.crt" in data or secret.get("type") == "kubernetes.io/tls" \
        else ("cert", "key")
    missing = [k for k in (cert_key, key_key) if k not in data]
    if missing:
        return f"missing key {', '.join(missing)} (has {', '.join(sorted(data)) or 'none'})"
    try:
        cert_pem = base64.b64decode(str(data[cert_key]), validate=True)
        key_pem = base64.b64decode(str(data[key_key]), validate=True)
    except (binascii.Error, ValueError):
        return "data is not base64"
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        with warnings.catch_warnings():
            # Old test certificates carry non-positive serials: readable, only deprecated.
            warnings.simplefilter("ignore")
            certificate = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        return f"{cert_key} is not a PEM certificate"
    try:
        load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        return f"{key_key} is not a PEM private key"
    if certificate.not_valid_after_utc < datetime.now(timezone.utc):
        return f"certificate expired on {certificate.not_valid_after_utc:%Y-%m-%d}"
    return None


@rule("BM125", ERROR, "Gateway credentialName Secret without a valid certificate and key", istio="IST0161",
      analyzer=SECRETS)
def credential_invalid(index: Index) -> Iterable:
    secrets = {(index.ns(s), str((s.get("metadata") or {}).get("name"))): s for s in index.of("Secret")}
    for gateway in index.of("Gateway"):
        for namespace in _secret_namespaces(index, gateway):
            for name in dict.fromkeys(_credentials(gateway)):
                secret = secrets.get((namespace, name))
                problem = _credential_problem(secret) if secret is not None else None
                if problem:
                    yield gateway, f"credentialName {name}: Secret {namespace}/{name} {problem}"


def _host_keys(host: str) -> list[str]:
    """The wildcard hosts that would cover `host` (`a.b.c` → `*.b.c`, `*.c`, `*`)."""
    labels = host.split(".")
    return [".".join(["*", *labels[n:]]) for n in range(1, len(labels))] + ["*"]


@rule("BM156", WARNING, "Gateways (or one Gateway) on the same selector and port with overlapping hosts",
      kiali="KIA0301")
def gateway_hosts_overlap(index: Index) -> Iterable:
    # Group servers by (selector, port); within a group, a host meets its equals and
    # the wildcards covering it by lookup, never every host against every other.
    groups: dict[tuple, dict[str, list[tuple[Mapping, str]]]] = {}
    for gateway in index.of("Gateway"):
        selector = tuple(sorted((str(k), str(v)) for k, v in (spec_of(gateway).get("selector") or {}).items()))
        for server in as_list(spec_of(gateway).get("servers")):
            port = ((server or {}).get("port") or {}).get("number")
            for host in as_list((server or {}).get("hosts")):
                name = str(host).rpartition("/")[2].lower()
                groups.setdefault((selector, port), {}).setdefault(name, []).append((gateway, name))
    for (selector, port), hosts in groups.items():
        clashes: dict[int, tuple[Mapping, list[str]]] = {}
        for name, holders in hosts.items():
            covering = [h for key in _host_keys(name) if key != name for h in hosts.get(key, ())]
            others = covering + (holders if len(holders) > 1 else [])
            for gateway, _ in holders:
                for other, other_name in others:
                    if other is gateway and other_name == name and len(holders) < 2:
                        continue
                    for one, seen in ((gateway, other_name), (other, name)):
                        clashes.setdefault(id(one), (one, []))[1].append(seen)
        for gateway, seen in clashes.values():
            shown = ", ".join(dict.fromkeys(seen))
            yield gateway, (f"port {port} hosts overlap with another server on the same gateway pods "
                            f"({labels_text(dict(selector))}): {shown}")
