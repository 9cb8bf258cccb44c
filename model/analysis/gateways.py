"""Gateway workloads that run outside the analysed objects.

A Gateway selects pods by labels. The pods of a Helm-installed gateway are not among
a stack's rendered objects (a Helm release is opaque), so a stack passes the gateways
it installs (`installed_gateways` reads them off its Helm releases: the chart labels
its pods `istio=<release name without "istio-">` and its Service maps 80→80 and
443→443). For plain manifests `DEFAULT_GATEWAYS` is what `istioctl analyze` assumes
on files: a Pod labelled `istio=ingressgateway` and Service `istio-ingressgateway` in
`istio-system` with ports 80, 443, 31400 and 15443. Pods, Services and pod templates
among the objects always count as well.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from model.bodies import as_list
from model.names import service_fqdn
from model.mesh import gateway_label

GATEWAY_CHART = "gateway"
HELM_GATEWAY_PORTS = (80, 443, 15021)
"""The gateway chart's Service: 80→80, 443→443 and the status port."""
ISTIOCTL_FILE_GATEWAY_PORTS = (80, 443, 31400, 15443)
"""The Service `istioctl analyze` adds when it analyses files only."""


@dataclass(frozen=True, kw_only=True)
class GatewayWorkload:
    """A gateway deployment the mesh runs: its pod labels and its Service."""

    labels: Mapping[str, str]
    namespace: str
    service: str
    ports: tuple[int, ...] = ()
    """Ports a Gateway server may name: the Service's ports and their target ports."""
    source: str = ""
    """Where this gateway is known from, for messages ('' for a stack's own install)."""

    @property
    def host(self) -> str:
        return service_fqdn(self.service, self.namespace)

    def as_objects(self) -> list[dict]:
        """The Pod and Service this gateway stands for."""
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": f"{self.service}-pod", "namespace": self.namespace, "labels": dict(self.labels)},
               "spec": {"containers": [{"name": "istio-proxy"}]}}
        service = {"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": self.service, "namespace": self.namespace},
                   "spec": {"selector": dict(self.labels),
                            "ports": [{"port": p, "targetPort": p} for p in self.ports]}}
        return [pod, service]


DEFAULT_GATEWAYS: tuple[GatewayWorkload, ...] = (
    GatewayWorkload(labels={"istio": "ingressgateway"}, namespace="istio-system", service="istio-ingressgateway",
                    ports=ISTIOCTL_FILE_GATEWAY_PORTS,
                    source="assumed, as istioctl analyze assumes for files; the cluster's gateway may differ"),
)
"""Assumed when the gateway workloads are outside the analysed objects."""


def installed_gateways(releases: Iterable[Mapping]) -> tuple[GatewayWorkload, ...] | None:
    """The gateways a stack installs, from its Helm release inputs (`name`, `chart`,
    `namespace`): the gateway chart's Service is named after the release. None when
    it installs none (Istio already runs): the gateways are then unknown, not absent."""
    found = tuple(
        GatewayWorkload(labels=gateway_label(str(r["name"])), namespace=str(r.get("namespace") or "default"),
                        service=str(r["name"]), ports=_chart_ports(r.get("values") or {}),
                        source="installed by this stack's gateway Helm release")
        for r in releases if r.get("chart") == GATEWAY_CHART and r.get("name")
    )
    return found or None


def _chart_ports(values: Mapping) -> tuple[int, ...]:
    """Service ports (and target ports) of a gateway chart release from its values."""
    ports = as_list((values.get("service") or {}).get("ports")) if isinstance(values, Mapping) else []
    if not ports:
        return HELM_GATEWAY_PORTS
    found = []
    for port in ports:
        if not isinstance(port, Mapping):
            continue
        for key in ("port", "targetPort"):
            if isinstance(port.get(key), (int, float)):
                found.append(int(port[key]))
    return tuple(dict.fromkeys(found))
