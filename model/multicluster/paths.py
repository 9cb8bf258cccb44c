"""How a request reaches a version in a mesh over several clusters, as the render
shows it: from a client in one network, a serving cluster on that network is
reached `direct`; a cluster on another network through that network's east-west
gateway (`via <address>:15443 (<network> gateway, AUTO_PASSTHROUGH)`), where the
gateway passes the mTLS connection through by SNI (the `cross-network-gateway` of
expose-services.yaml).

What istiod hands a sidecar (Istio's `EndpointsByNetworkFilter`,
pilot/pkg/xds/endpoints/ep_filters.go): the endpoints on its own network as they
are, and for each other network one endpoint per east-west gateway, weighted by the
endpoints behind it; the gateway of the endpoint's own cluster when it has one, else
any of its network's (`selectNetworkGateways`). Without locality settings (and
outlier detection, which locality failover needs) Envoy balances over all of them,
"the default cross-cluster load balancing" of istio.io's multicluster traffic
management page: a version served on the client's network and on another is reached
both ways, `direct (east) + via … (west)`, in proportion to its pods on each side.

Pure functions over the parsed settings and the traffic rows: no Pulumi imports."""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from model.names import service_of
from model.multicluster.objects import NETWORK_GATEWAY_PORT
from model.multicluster.plan import needs_eastwest
from model.settings.cluster_types import ClusterSettings, MultiClusterSettings
from model.traffic_rows import Share

SERVICE_TYPE_SHOWN = {"LoadBalancer": "LB", "NodePort": "NodePort"}
PASSTHROUGH = "AUTO_PASSTHROUGH"
"""The TLS mode of the cross-network-gateway server every cross-network request enters by."""
NO_GATEWAY = "—"


DISCOVERED = "(address discovered)"
"""A primary's gateway address the program reads from its Service (`eastWest.discover`)."""


def address_shown(cluster: ClusterSettings) -> str | None:
    """The gateway address as configured, or that it is read from the cluster."""
    return cluster.east_west.address or (DISCOVERED if cluster.east_west.discover else None)


def gateway_endpoint(cluster: ClusterSettings) -> str:
    """Where the other networks reach this cluster's east-west gateway: its
    address and the gateway's tls port, or a placeholder until the address is known."""
    kind = SERVICE_TYPE_SHOWN.get(cluster.east_west.service_type, cluster.east_west.service_type)
    address = address_shown(cluster)
    if cluster.east_west.service_type == "NodePort":
        # A NodePort Service is reached on the node port Kubernetes assigns to 15443.
        return f"{address or '(NodePort pending)'}:<node port of {NETWORK_GATEWAY_PORT}>"
    return f"{address or f'({kind} pending)'}:{NETWORK_GATEWAY_PORT}"


def eastwest_cell(mc: MultiClusterSettings, cluster: ClusterSettings) -> str:
    """The cluster table's east-west gateway column."""
    if not needs_eastwest(mc, cluster):
        return NO_GATEWAY
    kind = SERVICE_TYPE_SHOWN.get(cluster.east_west.service_type, cluster.east_west.service_type)
    if address_shown(cluster) is None:
        return f"({kind} pending)"
    return f"{gateway_endpoint(cluster)} ({kind})"


def remote_secrets_cell(mc: MultiClusterSettings, cluster: ClusterSettings) -> str:
    """The clusters whose remote Secret this primary holds (every other cluster);
    a remote holds none."""
    if not cluster.is_primary:
        return NO_GATEWAY
    return ", ".join(c.name for c in mc.clusters if c.name != cluster.name) or NO_GATEWAY


def _gateway_of(mc: MultiClusterSettings, serving: ClusterSettings) -> ClusterSettings | None:
    """The east-west gateway a cross-network request to `serving` enters by: its own
    cluster's, else another of its network's."""
    if needs_eastwest(mc, serving):
        return serving
    return next((c for c in mc.clusters if c.network == serving.network and needs_eastwest(mc, c)), None)


def path_from(mc: MultiClusterSettings, network: str, serving: Sequence[str]) -> str:
    """The path from a client in `network` to the endpoints in the `serving` clusters."""
    clusters = [mc.cluster(name) for name in serving]
    if not clusters:
        return "no endpoints"
    parts: list[tuple[str, list[str]]] = []
    local = [c.name for c in clusters if c.network == network]
    if local:
        parts.append(("direct", local))
    by_gateway: dict[str, list[str]] = {}
    for c in clusters:
        if c.network == network:
            continue
        gateway = _gateway_of(mc, c)
        via = (f"via {gateway_endpoint(gateway)} ({c.network} gateway, {PASSTHROUGH})" if gateway
               else f"unreachable (no east-west gateway in {c.network})")
        by_gateway.setdefault(via, []).append(c.name)
    parts += list(by_gateway.items())
    if len(parts) == 1:
        return parts[0][0]
    return " + ".join(f"{text} ({', '.join(names)})" for text, names in parts)


@dataclass(frozen=True, kw_only=True)
class PathRow:
    route: str
    """`<namespace>/<route object> <route>`: which route the share is of."""
    version: str
    percent: float
    clusters: tuple[str, ...]
    path: str


@dataclass(frozen=True, kw_only=True)
class HostView:
    """One destination host as clients in some networks see it."""

    host: str
    """The host's FQDN, with the Service port when it is known."""
    networks: tuple[str, ...]
    """The client networks this view holds for (every network when it is the same for all)."""
    rows: tuple[PathRow, ...]

    @property
    def every_route(self) -> bool:
        """Whether the rows come from more than one route (then each row names its route)."""
        return len({row.route for row in self.rows}) > 1


def serving_clusters(mc: MultiClusterSettings, versions: Mapping[str, Sequence[str]], service: str,
                     subset: str) -> tuple[str, ...] | None:
    """The clusters a destination's endpoints run in: a subset's version per
    `app.placement`, a host without subset wherever any of its versions runs; None
    when the host is not a service of the application (its endpoints are unknown here)."""
    if service not in versions:
        return None
    if subset:
        return mc.clusters_running(service, subset)
    running = {c for version in versions[service] for c in mc.clusters_running(service, version)}
    return tuple(c.name for c in mc.clusters if c.name in running)


def host_views(mc: MultiClusterSettings, shares: Iterable[Share], *, versions: Mapping[str, Sequence[str]],
               fqdn_of, ports: Mapping[str, int]) -> list[HostView]:
    """Per destination host (in order of first appearance), the share of each
    destination with its serving clusters and the path from each client network;
    networks whose view is the same share one. `versions`: service → its deployed
    versions; `fqdn_of(share)`: the host's FQDN; `ports`: FQDN → the Service port."""
    by_host: dict[str, list[Share]] = {}
    for share in shares:
        by_host.setdefault(fqdn_of(share), []).append(share)
    views = []
    for host, rows in by_host.items():
        shown = f"{host}:{ports[host]}" if host in ports else host
        per_network: dict[tuple[PathRow, ...], list[str]] = {}
        for network in mc.networks:
            view = tuple(_row(mc, share, network, versions) for share in rows)
            per_network.setdefault(view, []).append(network)
        views += [HostView(host=shown, networks=tuple(networks), rows=view) for view, networks in per_network.items()]
    return views


def _row(mc: MultiClusterSettings, share: Share, network: str, versions: Mapping[str, Sequence[str]]) -> PathRow:
    serving = serving_clusters(mc, versions, service_of(share.host), share.subset)
    return PathRow(route=f"{share.namespace}/{share.virtual_service} {share.route}", version=share.subset or "—",
                   percent=share.percent, clusters=serving or (),
                   path=path_from(mc, network, serving) if serving is not None else "—")


LOCALITY_NOTE = ("outlierDetection is set: Istio's locality load balancing (on by default) prefers endpoints in "
                 "the client's region and zone, the others take over as those fail")


def prefers_locality(destination_rules: Iterable[Mapping], host: str, fqdn_of) -> bool:
    """Whether a DestinationRule of `host` sets outlierDetection, for the host or a
    subset: then locality load balancing applies (it needs outlier detection to act)
    and the paths shown are where requests go when the client's locality has none."""
    for rule in destination_rules:
        spec = rule.get("spec") or {}
        if fqdn_of(str(spec.get("host", "")), (rule.get("metadata") or {}).get("namespace", "")) != host:
            continue
        policies = [spec.get("trafficPolicy") or {}, *((s.get("trafficPolicy") or {}) for s in spec.get("subsets") or [])]
        if any(isinstance(p, Mapping) and p.get("outlierDetection") for p in policies):
            return True
    return False


def clients_in(mc: MultiClusterSettings, networks: Sequence[str]) -> str:
    """`net-east (east)`, or `every network` when the view holds for all of them."""
    if len(networks) == len(mc.networks) and len(networks) > 1:
        return "every network"
    return "; ".join(f"{n or 'the one network'} ({', '.join(c.name for c in mc.clusters if c.network == n)})"
                     for n in networks)
