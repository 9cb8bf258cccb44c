"""The contract between layered stacks: what a mesh or app stack exports, and the
checks a stack built on it runs against those exports before anything changes.

A layered environment is a mesh stack (the Istio install), an app stack (namespace,
workloads, stores, security policies) and a traffic stack (Gateways,
VirtualServices, DestinationRules, egress). Each reads the outputs of the stacks
below it; these functions build those outputs from settings and judge them, so the
program (through a StackReference) and meshplan (offline) share one rule."""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from model.apps import service_namespace
from model.errors import ConfigError
from model.mesh import (EGRESS_GATEWAY_LABELS, INGRESS_GATEWAY_LABELS, INGRESS_NAMESPACE, ISTIO_NAMESPACE)
from model.analysis.gateway_api import GATEWAY_NAME_LABEL
from model.names import PROJECT
from model.routing_common import GATEWAY_NAME
from model.settings import Route, Settings

MESH_OUTPUTS = ("layers", "revision", "istioVersion", "gatewaySelectors", "meshNamespaces")
CLUSTERS_OUTPUT = "clusters"
"""A multi-cluster mesh stack's further output (`clusters_contract`)."""
APP_OUTPUTS = ("layers", "namespace", "services")
PLACEMENT_OUTPUT = "placement"
"""What an app stack over clusters adds: where each deployed version runs."""
"""The outputs a stack of that layer exports (README, "Layered stacks", has the table)."""

OBJECTS_OF_LAYER = {"app": ("workloads", "security"), "traffic": ("routing", "egress")}
"""Layer → the components whose objects it registers (the mesh: the Istio install)."""


def ingress_of(settings: Settings) -> tuple[dict[str, str], str]:
    """The ingress gateway's pod labels and namespace: the gateway chart's release in
    istio-ingress, or with Gateway API routing (no chart) the pods istiod deploys for the
    Gateway of class istio in the app namespace, labelled with the Gateway's name."""
    if settings.gateway_api_routes:
        return {GATEWAY_NAME_LABEL: GATEWAY_NAME}, settings.app.namespace
    return dict(INGRESS_GATEWAY_LABELS), INGRESS_NAMESPACE


def mesh_outputs(settings: Settings) -> dict[str, Any]:
    """What a stack holding the mesh tells the stacks above it. A mesh for Gateway API
    routing or ambient says so (`dataPlane`, `gatewayApi`: the channel of the CRDs it
    installs or checks); a sidecar mesh for Istio's API exports what it always did."""
    ingress_labels, ingress_namespace = ingress_of(settings)
    selectors = {"ingress": ingress_labels}
    if settings.istio.egress_gateway:
        selectors["egress"] = dict(EGRESS_GATEWAY_LABELS)
    outputs: dict[str, Any] = {
        "revision": settings.istio.revision,
        "istioVersion": settings.istio.version,
        "gatewaySelectors": selectors,
        "meshNamespaces": {"controlPlane": ISTIO_NAMESPACE, "ingress": ingress_namespace},
    }
    if settings.gateway_api_routes or settings.ambient:
        outputs["dataPlane"] = settings.istio.data_plane
    if settings.gateway_api_routes:
        outputs["gatewayApi"] = {"channel": settings.gateway_api.channel}
    if settings.multicluster is not None:
        outputs[CLUSTERS_OUTPUT] = clusters_contract(settings)
    return outputs


def clusters_contract(settings: Settings) -> dict[str, Any] | None:
    """The `clusters` map every layer of a multi-cluster environment repeats, as the
    mesh stack exports it: each cluster's role, network, control plane, API server and
    east-west gateway, without where its kubeconfig comes from (each stack's own
    credentials); None for a one-cluster stack."""
    if settings.multicluster is None:
        return None
    contract = {}
    for cluster in settings.multicluster.clusters:
        east_west = {"serviceType": cluster.east_west.service_type}
        if cluster.east_west.address is not None:
            east_west["address"] = cluster.east_west.address
        if cluster.east_west.discover:
            east_west["discover"] = True
        entry = {"role": cluster.role, "network": cluster.network, "apiServer": cluster.api_server,
                 "eastWest": east_west}
        if cluster.control_plane is not None:
            entry["controlPlane"] = cluster.control_plane
        contract[cluster.name] = entry
    return contract


def _first_difference(path: str, mine: Any, theirs: Any) -> tuple[str, Any, Any] | None:
    """(key path, this stack's value, the mesh stack's) of the first place two
    contract values differ, keys in order; None when they are equal."""
    if isinstance(mine, Mapping) and isinstance(theirs, Mapping):
        for key in (*mine, *(k for k in theirs if k not in mine)):
            found = _first_difference(f"{path}.{key}", mine.get(key), theirs.get(key))
            if found is not None:
                return found
        return None
    return None if mine == theirs else (path, mine, theirs)


def clusters_mismatch(settings: Settings, mesh: Mapping) -> ConfigError | None:
    """Where this stack's `clusters` map differs first from the mesh stack's: each
    layer deploys to the clusters the mesh was installed in, as it installed them."""
    stack = settings.layers.stack_refs["mesh"]
    found = _first_difference("clusters", clusters_contract(settings), mesh.get(CLUSTERS_OUTPUT))
    if found is None:
        return None
    path, mine, theirs = found
    if theirs is None:
        return _refused(settings, path, mine, f"the mesh stack {stack} has no such "
                        f"{'clusters' if path == 'clusters' else 'key'}: every layer repeats its clusters map")
    if mine is None:
        shown = f"clusters {', '.join(theirs)}" if path == "clusters" else repr(theirs)
        return ConfigError(file=settings.source, path=f"{PROJECT}:{path}",
                           message=f"not set; the mesh stack {stack} has {shown}: every layer repeats its "
                                   f"clusters map")
    return _refused(settings, path, mine, f"the mesh stack {stack} has {theirs!r}: every layer repeats its "
                                          f"clusters map")


def app_outputs(settings: Settings) -> dict[str, Any]:
    """What a stack holding the app tells the traffic layer: per deployed service its
    namespace, port, deployed versions and ServiceAccount; over clusters, also where
    each version runs."""
    app = settings.app.application
    services = {}
    for name, deployed in settings.services.items():
        svc = app.service(name)
        services[name] = {"namespace": service_namespace(svc, settings.app.namespace), "port": svc.port,
                          "versions": list(deployed.versions), "serviceAccount": svc.account or ""}
    outputs: dict[str, Any] = {"namespace": settings.app.namespace, "services": services}
    placement = placement_contract(settings)
    if placement is not None:
        outputs[PLACEMENT_OUTPUT] = placement
    return outputs


def placement_contract(settings: Settings) -> dict[str, dict[str, list[str]]] | None:
    """Service → version → the clusters it runs in, every version spelled out (the
    default, everywhere, included); None for a one-cluster stack."""
    mc = settings.multicluster
    if mc is None:
        return None
    return {name: {version: list(mc.clusters_running(name, version)) for version in service.versions}
            for name, service in settings.services.items()}


def placement_mismatch(settings: Settings, app: Mapping) -> ConfigError | None:
    """The first version this traffic stack places differently from the app stack:
    its shares, drift and path checks read the placement, so it must be the app's."""
    mine = placement_contract(settings)
    if mine is None:
        return None
    stack = settings.layers.stack_refs["app"]
    theirs = app.get(PLACEMENT_OUTPUT)
    if not isinstance(theirs, Mapping):
        return _refused(settings, "stackRefs.app", stack, f"that stack does not export where each version runs "
                        f"(missing: {PLACEMENT_OUTPUT}); is it a stack over the same clusters, deployed?")
    for service, versions in mine.items():
        for version, clusters in versions.items():
            runs_in = (theirs.get(service) or {}).get(version)
            if runs_in is not None and list(runs_in) != clusters:
                return _refused(settings, f"app.placement.{service}.{version}", clusters,
                                f"the app stack {stack} runs it in {', '.join(runs_in) or 'no cluster'}: the traffic "
                                f"layer repeats the app layer's placement")
    return None


def layer_outputs(settings: Settings) -> dict[str, Any]:
    """The contract outputs of a layered stack (none for a stack of all layers, whose
    outputs stay what they always were)."""
    layers = settings.layers
    if not layers.layered:
        return {}
    outputs: dict[str, Any] = {"layers": list(layers.layers)}
    if layers.holds("mesh"):
        outputs.update(mesh_outputs(settings))
    if layers.holds("app"):
        outputs.update(app_outputs(settings))
    return outputs


def _refused(settings: Settings, path: str, value: Any, message: str) -> ConfigError:
    return ConfigError(file=settings.source, path=f"{PROJECT}:{path}", value=value, message=message)


def _missing(settings: Settings, layer: str, outputs: Mapping, wanted: tuple[str, ...]) -> ConfigError | None:
    stack = settings.layers.stack_refs[layer]
    absent = [key for key in wanted if key not in outputs]
    if absent or layer not in (outputs.get("layers") or ()):
        return _refused(settings, f"stackRefs.{layer}", stack,
                        f"that stack does not export the {layer} layer's outputs "
                        f"(missing: {', '.join(absent) or 'layers: ' + layer}); is it deployed, and does it hold {layer}?")
    return None


def mesh_mismatch(settings: Settings, mesh: Mapping) -> ConfigError | None:
    """The first way this stack disagrees with the mesh stack it builds on, if any."""
    missing = _missing(settings, "mesh", mesh, MESH_OUTPUTS) or clusters_mismatch(settings, mesh)
    if missing:
        return missing
    stack = settings.layers.stack_refs["mesh"]
    mesh_data_plane = mesh.get("dataPlane") or "sidecar"
    if settings.layers.holds("app") and mesh_data_plane != settings.istio.data_plane:
        return _refused(settings, "istio.dataPlane", settings.istio.data_plane,
                        f"the mesh stack {stack} runs the {mesh_data_plane} data plane: the app's namespaces "
                        f"would be labelled for a data plane that is not installed")
    if settings.layers.holds("app") and mesh["revision"] != settings.istio.revision:
        shown = mesh["revision"] or "the default revision"
        return _refused(settings, "istio.revision", settings.istio.revision,
                        f"the mesh stack {stack} runs {shown}: the app's namespaces would be labelled for a "
                        f"control plane that does not inject them; set istio.revision to {mesh['revision']!r}")
    if settings.layers.holds("traffic"):
        selectors = mesh["gatewaySelectors"] or {}
        gateway_api = mesh.get("gatewayApi") or {}
        if settings.gateway_api_routes and not gateway_api:
            return _refused(settings, "traffic.api", settings.traffic_api,
                            f"the mesh stack {stack} installs no Gateway API CRDs (it routes with traffic.api=istio): "
                            "istiod would not watch HTTPRoutes; set traffic.api=gateway-api on the mesh stack too")
        if settings.gateway_api_routes and gateway_api.get("channel") != settings.gateway_api.channel:
            return _refused(settings, "gatewayApi.channel", settings.gateway_api.channel,
                            f"the mesh stack {stack} installs the {gateway_api.get('channel')} channel's CRDs")
        ingress_labels, _ = ingress_of(settings)
        if settings.istio.install and selectors.get("ingress") != ingress_labels:
            return _refused(settings, "stackRefs.mesh", stack,
                            f"its ingress gateway pods are labelled {selectors.get('ingress')}, "
                            f"the Gateway selects {ingress_labels}")
        if settings.istio.egress_gateway and selectors.get("egress") != EGRESS_GATEWAY_LABELS:
            return _refused(settings, "istio.egressGateway.enabled", True,
                            f"the mesh stack {stack} runs no egress gateway labelled {EGRESS_GATEWAY_LABELS}")
    return None


def _route_versions(path: str, route: Route) -> Iterator[tuple[str, str]]:
    for destination in route.destinations:
        yield (f"{path}.to" if destination.weight is None else f"{path}.weights.{destination.version}",
               destination.version)
    if route.mirror is not None:
        yield f"{path}.mirror.version", route.mirror.version


def _versions_used(settings: Settings) -> Iterator[tuple[str, str, str]]:
    """(service, key path, version) for every version the traffic layer routes to,
    mirrors to or builds a subset for, most specific first."""
    for svc in settings.routed_services:
        base = f"services.{svc.name}"
        *matched, default = svc.routes
        for index, route in enumerate(matched):
            for path, version in _route_versions(f"{base}.routes[{index}]", route):
                yield svc.name, path, version
        for path, version in _route_versions(base, default):
            yield svc.name, path, version
        for version in svc.versions:
            yield svc.name, f"{base}.versions", version


def app_mismatch(settings: Settings, app: Mapping) -> ConfigError | None:
    """The first route, weight or subset of this traffic stack that names something
    the app stack has not deployed, if any."""
    missing = _missing(settings, "app", app, APP_OUTPUTS)
    if missing:
        return missing
    stack = settings.layers.stack_refs["app"]
    if app["namespace"] != settings.app.namespace:
        return _refused(settings, "app.namespace", settings.app.namespace,
                        f"the app stack {stack} deploys into namespace {app['namespace']!r}")
    deployed = app["services"] or {}
    for service, path, version in _versions_used(settings):
        if service not in deployed:
            return _refused(settings, f"services.{service}", service,
                            f"not deployed by the app stack {stack} (deployed: {', '.join(deployed) or 'none'})")
        versions = deployed[service].get("versions") or []
        if version not in versions:
            return _refused(settings, path, version,
                            f"version not deployed by the app stack {stack} (deployed: {', '.join(versions) or 'none'})")
    return placement_mismatch(settings, app)


def reference_mismatch(settings: Settings, outputs_by_stack: Mapping[str, Mapping]) -> ConfigError | None:
    """The first way `settings` disagrees with the stacks it references, given their
    outputs by fully qualified name; None when it fits them all."""
    judges = {"mesh": mesh_mismatch, "app": app_mismatch}
    for layer, stack in settings.layers.stack_refs.items():
        refused = judges[layer](settings, outputs_by_stack.get(stack) or {})
        if refused is not None:
            return refused
    return None
