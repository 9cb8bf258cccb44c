"""What an application is made of, as data: services, versions, stores, secrets and
ingress routes. One module per application (`bookinfo`, `bms`) fills these in."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

# Container fields the workload builders write from the definition itself. Extras
# are merged after them, so an extra naming one would silently replace the image,
# the ports or the mounts the rest of the project (routing, checks) relies on.
BUILDER_CONTAINER_FIELDS = ("name", "image", "imagePullPolicy", "args", "env", "envFrom", "ports",
                            "volumeMounts", "securityContext")


def _named(items, name: str):
    """The item called `name` (a Service or Version); KeyError if none is."""
    for candidate in items:
        if candidate.name == name:
            return candidate
    raise KeyError(name)


def _refuse_builder_fields(what: str, extras: Mapping) -> None:
    clashing = sorted(set(extras) & set(BUILDER_CONTAINER_FIELDS))
    if clashing:
        raise ValueError(f"{what}: container_extras may not set {', '.join(clashing)}; "
                         "the builder writes them from the definition")


# Marker for "the service's own account", so a version can also opt out entirely
# (None) or name another one, as upstream's ratings-v2 does.
SERVICE_ACCOUNT = "<service>"


@dataclass(frozen=True, kw_only=True)
class ScratchVolume:
    """An emptyDir volume and where the container mounts it."""

    name: str
    mount_path: str


@dataclass(frozen=True, kw_only=True)
class Version:
    """One deployable version of a service: one Deployment labelled version=<name>."""

    name: str
    image: str
    """Image repository below the registry, without tag, e.g. examples-bookinfo-reviews-v1."""
    env: tuple[tuple[str, str], ...] = ()
    mounts: tuple[ScratchVolume, ...] = ()
    """Container volumeMounts, in the order the container lists them."""
    volume_order: tuple[str, ...] = ()
    """Pod volumes (emptyDirs), in the order the pod lists them; defaults to mount order."""
    service_account: str | None = SERVICE_ACCOUNT
    annotations: tuple[tuple[str, str], ...] = ()
    """Pod template annotations."""
    args: tuple[str, ...] = ()
    container_extras: Mapping = field(default_factory=dict)
    """Further container fields in Kubernetes spelling (probes, resources); never one
    the builder writes itself (see `BUILDER_CONTAINER_FIELDS`)."""
    requires: tuple[str, ...] = ()
    """Backing services this version needs deployed with it (e.g. ratings v2 → mongodb)."""
    secret_env: tuple[tuple[str, SecretKey], ...] = ()
    """Environment variables read from a Kubernetes Secret (secretKeyRef), never inline."""
    spring: SpringBoot | None = None
    """How a Spring Boot version is configured; None for a plain container."""
    calls: tuple[str, ...] = ()
    """Services this version sends requests to, where the application's `callers`
    cannot say (a service anyone may call)."""
    stores: tuple[str, ...] = ()
    """Stores this version connects to, by name (the store's Service of that name): in
    a stack with clusters it may run in another cluster than the store."""

    def __post_init__(self) -> None:
        _refuse_builder_fields(f"version {self.name} ({self.image})", self.container_extras)


@dataclass(frozen=True, kw_only=True)
class SpringBoot:
    """A Spring Boot version's configuration, served from ConfigMaps, never baked in."""

    config: tuple[tuple[str, str], ...] = ()
    """Environment served from a ConfigMap `<deployment>-env` (envFrom), not inline."""
    properties: tuple[tuple[str, str], ...] = ()
    """application.properties entries, served from a ConfigMap `<deployment>-properties`
    mounted as a directory at `properties_dir`."""
    properties_dir: str = "/app/config"
    tracing_env: str | None = None
    """Variable that receives the tracing endpoint when the stack sets app.tracing.endpoint."""


@dataclass(frozen=True, kw_only=True)
class Service:
    """A Kubernetes Service and the versions behind it."""

    name: str
    port: int
    port_name: str = "http"
    versions: tuple[Version, ...]
    default_versions: tuple[str, ...]
    """Versions deployed when the stack does not say otherwise."""
    account: str | None = None
    """ServiceAccount name; None means the service runs without its own account."""
    routed: bool = True
    """Whether the mesh routes to this service by version (VirtualService + DestinationRule)."""
    backing: bool = False
    """A backing store deployed only when a version requires it (e.g. mongodb)."""
    namespace: str | None = None
    """A namespace of its own; None means the application namespace."""
    external: bool = False
    """Outside the mesh: its namespace gets no sidecar-injection label and the mesh
    reaches it as a MESH_EXTERNAL ServiceEntry (through the egress gateway)."""

    def version(self, name: str) -> Version:
        return _named(self.versions, name)

    @property
    def version_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.versions)


@dataclass(frozen=True, kw_only=True)
class SecretKey:
    """A value stack config holds as a Pulumi secret, and the Kubernetes Secret key it
    is written to. Pods read it through secretKeyRef; it is never a literal."""

    config_key: str
    """Stack config key (without the project prefix), e.g. databasePassword."""
    secret: str
    """Kubernetes Secret name, in the application namespace."""
    key: str
    """Key within the Secret."""


@dataclass(frozen=True, kw_only=True)
class Store:
    """A stateful backing store: one StatefulSet whose pods each get a volume claim,
    a headless Service that names the pods (the StatefulSet's serviceName) and, when
    `client_service` is set, a separate ClusterIP Service for clients."""

    name: str
    image: str
    """Full image reference with a pinned tag (stores do not follow app.image.tag)."""
    port: int
    port_name: str
    """Prefixed tcp- so Istio treats the traffic as opaque TCP."""
    data_path: str
    """Where the volume claim is mounted."""
    env: tuple[tuple[str, str], ...] = ()
    secret_env: tuple[tuple[str, SecretKey], ...] = ()
    init_files: tuple[tuple[str, str], ...] = ()
    """Files served from a ConfigMap `<name>-init` mounted at `init_path`."""
    init_path: str = ""
    user: int
    """UID, GID and fsGroup the pod runs as (the image's own non-root user)."""
    storage_size: str
    """Default size of each volume claim; stack config may override it."""
    container_extras: Mapping = field(default_factory=dict)
    """Further container fields in Kubernetes spelling (probes, resources); never one
    the builder writes itself (see `BUILDER_CONTAINER_FIELDS`)."""
    client_service: bool = False
    """Also expose a ClusterIP Service `<name>`; the headless one is then `<name>-headless`."""

    def __post_init__(self) -> None:
        _refuse_builder_fields(f"store {self.name}", self.container_extras)

    @property
    def headless_service(self) -> str:
        return f"{self.name}-headless" if self.client_service else self.name


def service_namespace(svc: Service, app_namespace: str) -> str:
    """Where a service runs: its own namespace if it has one, else the application's."""
    return svc.namespace or app_namespace


@dataclass(frozen=True, kw_only=True)
class IngressRoute:
    """Requests entering through the ingress gateway and the service they go to."""

    uris: tuple[tuple[str, str], ...]
    """URI matches in order, each (kind, value) with kind exact, prefix or regex."""
    service: str
    by_version: bool = False
    """Split these requests over the service's versions with its configured weights
    (the route then names subsets); otherwise one destination, the Service itself."""


@dataclass(frozen=True, kw_only=True)
class Application:
    """Everything the builders need to know about one application."""

    name: str
    default_namespace: str
    image_registry: str
    image_tag: str
    services: tuple[Service, ...]
    ingress_routes: tuple[IngressRoute, ...]
    callers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Who calls whom: service → the services allowed to call it ('*' = anyone).
    Least-privilege authorization admits exactly these callers' service accounts."""
    stores: tuple[Store, ...] = ()
    """Stateful backing stores, always deployed with the application."""
    secrets: tuple[SecretKey, ...] = ()
    """Secret values the stack must provide (as Pulumi secrets) for this application."""

    def service(self, name: str) -> Service:
        return _named(self.services, name)

    @property
    def service_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.services)

    def calls(self) -> tuple[tuple[str, str], ...]:
        """Who calls whom, as (caller, callee) pairs in definition order: each caller
        `callers` names (not `*`, which names nobody), then each service a version
        calls."""
        pairs = [(caller, callee) for callee, callers in self.callers.items() for caller in callers if caller != "*"]
        pairs += [(service.name, callee) for service in self.services for version in service.versions
                  for callee in version.calls]
        return tuple(dict.fromkeys(pairs))
