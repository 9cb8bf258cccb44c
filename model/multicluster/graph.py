"""The order a multi-cluster mesh comes up in, as data: node ids `<cluster>/<thing>`
(and `mesh/trust`), edges `(before, after)` the program turns into `depends_on`,
never source order."""
from __future__ import annotations

from model.multicluster.plan import ClusterPlan
from model.settings.cluster_types import MultiClusterSettings

TRUST = "mesh/trust"
"""The intermediate CA bundles the stack is given (trust mode provided)."""


def node(cluster: str, thing: str) -> str:
    return f"{cluster}/{thing}"


def dependency_edges(mc: MultiClusterSettings, plans: tuple[ClusterPlan, ...]) -> tuple[tuple[str, str], ...]:
    edges: list[tuple[str, str]] = []

    def edge(before: str, after: str) -> None:
        if (before, after) not in edges:
            edges.append((before, after))

    istiods = [node(p.name, "istiod") for p in plans]
    for plan in plans:
        c = plan.name
        edge(node(c, "provider"), node(c, "namespace"))
        edge(node(c, "namespace"), node(c, "istio-base"))
        if plan.reader_token is not None:
            # The ServiceAccount the token is for comes with base.
            edge(node(c, "istio-base"), node(c, "reader-token"))
        edge(node(c, "istio-base"), node(c, "istiod"))
        if plan.cacerts:
            # istiod reads cacerts only at start: a later one is ignored until a restart.
            edge(TRUST, node(c, "cacerts"))
            edge(node(c, "namespace"), node(c, "cacerts"))
            edge(node(c, "cacerts"), node(c, "istiod"))
        if plan.release("eastwest"):
            edge(node(c, "istiod"), node(c, "istio-eastwestgateway"))
        for obj in plan.expose:
            thing = obj["metadata"]["name"]
            if obj["kind"] == "VirtualService":
                thing = "istiod-vs"
            edge(node(c, "istio-eastwestgateway" if thing != "cross-network-gateway" else "istiod"), node(c, thing))
            if thing == "istiod-vs":
                edge(node(c, "istiod-gateway"), node(c, "istiod-vs"))
        for secret in plan.remote_secrets:
            source = next(iter(secret["stringData"]))
            edge(node(source, "reader-token"), node(c, f"remote-secret-{source}"))
            edge(node(c, "istiod"), node(c, f"remote-secret-{source}"))
        if plan.cluster.control_plane:
            primary = plan.cluster.control_plane
            # The remote's istiod release points at the primary through its gateway:
            # the address comes from the gateway, the webhook target from istiod-gateway.
            edge(node(primary, "istio-eastwestgateway"), node(c, "istiod"))
            edge(node(primary, "istiod-gateway"), node(c, "istiod"))
            if plan.release("eastwest"):
                # Its pods are injected by the primary's istiod, through the gateway.
                edge(node(primary, "istiod-gateway"), node(c, "istio-eastwestgateway"))
        for istiod in istiods:
            edge(istiod, node(c, "app-namespaces"))
        edge(node(c, "app-namespaces"), node(c, "workloads"))
    for primary in mc.primaries:
        for plan in plans:
            edge(node(plan.name, "workloads"), node(primary.name, "traffic"))
    return tuple(edges)


def cycle(edges: tuple[tuple[str, str], ...]) -> list[str] | None:
    """The nodes on or behind a cycle, or None when there is none (Kahn's algorithm)."""
    nodes = {n for pair in edges for n in pair}
    incoming = {n: 0 for n in nodes}
    for _, after in edges:
        incoming[after] += 1
    ready = [n for n, count in incoming.items() if count == 0]
    while ready:
        current = ready.pop()
        for before, after in edges:
            if before == current:
                incoming[after] -= 1
                if incoming[after] == 0:
                    ready.append(after)
    left = sorted(n for n, count in incoming.items() if count)
    return left or None


def in_order(edges: tuple[tuple[str, str], ...], nodes: list[str]) -> list[str]:
    """`nodes` in an order where every node comes after those it has an edge from
    (a stable topological sort: ties keep the order given). A node on a cycle is
    an error of the plan, not something to guess around."""
    before = {n: {b for b, a in edges if a == n and b in nodes} for n in nodes}
    ordered: list[str] = []
    while len(ordered) < len(nodes):
        ready = [n for n in nodes if n not in ordered and before[n] <= set(ordered)]
        if not ready:
            raise ValueError(f"dependency cycle among {sorted(set(nodes) - set(ordered))}")
        ordered.append(ready[0])
    return ordered
