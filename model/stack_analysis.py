"""The analysis of one stack: what the analyzers judge, and the one entry point the
program (before it registers anything), `meshplan` (on a render) and the policy pack
(on what the engine hands it) all call.

A stack of all layers is judged by what it registers: its objects, and the gateways
its Helm releases install. A layered stack is judged with its whole environment:
every object and Istio release its settings imply, so a traffic stack's routes still
meet the Services and Deployments the app stack registers, and a stack that does not
hold the mesh still knows the gateways the mesh stack installs."""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from model.analysis import Finding, analyze, installed_gateways
from model.egress import egress_objects
from model.mesh import istio_install
from model.observability import observability_objects
from model.routing import routing_objects
from model.security import security_objects
from model.settings import SECRET_SHOWN, Settings
from model.stores import store_objects
from model.waypoint import namespace_waypoint, waypoint_objects
from model.workloads import application_objects

UNKNOWN_STACK_NAMESPACE = "default"
"""Where objects without `metadata.namespace` live when the stack's settings are unknown."""


def analyze_stack(settings: Settings | None, objects: Iterable[Mapping], releases: Iterable[Mapping], *,
                  schemas=None, registrations: Iterable[tuple[str, str, str | None]] | None = None,
                  by_provider: Mapping[str | None, tuple[Sequence[Mapping], Sequence[Mapping]]] | None = None,
                  ) -> list[Finding]:
    """Every finding about a stack, given what it registers (or is about to): its
    Kubernetes and Istio objects and its Helm releases' inputs (name, chart, namespace,
    values). A layered stack's settings replace both with its environment's (see the
    module docstring). `settings` None: a stack whose settings are unknown (the policy
    pack without the stack's file), judged by what it registers alone. `schemas`:
    Istio's CRD schemas to validate against (`meshplan check --crds`). A stack with
    `clusters` is judged per cluster from its settings, plus the multi-cluster checks
    (`registrations`: what a render registered, for MC116). `by_provider`, with
    `settings` None: the same objects and releases by the name of the Kubernetes
    provider deploying them (None: the default provider); through two or more explicit
    providers they are judged per provider
    (`model.multicluster.analysis.analyze_provider_clusters`), else as one cluster."""
    if settings is None and by_provider is not None and sum(name is not None for name in by_provider) >= 2:
        from model.multicluster.analysis import analyze_provider_clusters
        return analyze_provider_clusters(by_provider, judge=judge, default_namespace=UNKNOWN_STACK_NAMESPACE,
                                         registrations=registrations or (), schemas=schemas)
    if settings is not None and settings.multicluster is not None:
        from model.multicluster.analysis import analyze_multicluster
        return analyze_multicluster(settings, judge=judge, schemas=schemas, registrations=registrations)
    if settings is not None and settings.layers.layered:
        objects, releases = objects_implied(settings), installed_releases(settings)
    namespace = settings.app.namespace if settings is not None else UNKNOWN_STACK_NAMESPACE
    return judge(objects, releases, default_namespace=namespace, schemas=schemas)


def judge(objects: Iterable[Mapping], releases: Iterable[Mapping], *, default_namespace: str,
          schemas=None) -> list[Finding]:
    """The one-cluster rules on objects beside the gateways the releases install: what
    `analyze_stack` runs on a stack, and on each cluster of a multi-cluster stack."""
    return analyze(objects, gateways=installed_gateways(releases), default_namespace=default_namespace,
                   schemas=schemas)


def objects_implied(settings: Settings) -> list[Mapping]:
    """Every app and traffic object the environment's settings imply, as the
    components build them: what the program judges before it registers anything
    (a refusal after the first registration would leave an update half sent). A
    mesh-only stack implies none to analyze."""
    layers = settings.layers
    if not (layers.holds("app") or layers.holds("traffic")):
        return []
    placeholders = {ref.config_key: SECRET_SHOWN for ref in settings.app.application.secrets}
    return [*application_objects(settings, waypoint=namespace_waypoint(settings)), *waypoint_objects(settings),
            *store_objects(settings, placeholders), *routing_objects(settings),
            *observability_objects(settings), *security_objects(settings), *egress_objects(settings)]


def installed_releases(settings: Settings) -> Sequence[Mapping]:
    """The Istio install the settings describe, as the analyzers take releases (name,
    chart, namespace, values): the program judges its gateways by these before it
    registers the releases, and a layered stack whether or not it holds the mesh."""
    return [{"name": r.name, "chart": r.chart, "namespace": r.namespace, "values": r.values}
            for r in istio_install(settings).releases]
