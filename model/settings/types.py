"""The typed, frozen settings a stack's config is parsed into."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping


from model.apps import Application
from model.names import SECRET_NOT_SET_SHOWN, SECRET_SHOWN  # noqa: F401  (re-exported)
from model.gates import Analysis
from model.settings.cluster_types import MultiClusterSettings
from model.rollout_plan import StartedFrom
from model.vocabulary import GATEWAY_API_VERSION


@dataclass(frozen=True, kw_only=True)
class ResourceRequirements:
    """Container requests/limits, in Kubernetes quantity strings."""

    requests: Mapping[str, str] = field(default_factory=dict)
    limits: Mapping[str, str] = field(default_factory=dict)

    def as_kubernetes(self) -> dict:
        body: dict = {}
        if self.requests:
            body["requests"] = dict(self.requests)
        if self.limits:
            body["limits"] = dict(self.limits)
        return body


@dataclass(frozen=True, kw_only=True)
class IstioSettings:
    """How Istio is installed (or that it already is)."""

    install: bool
    version: str
    chart_repository: str
    revision: str
    """Control-plane revision; empty for the default revision."""
    access_log: bool
    outbound_traffic_policy: str
    istiod_replicas: int
    istiod_resources: ResourceRequirements | None
    ingress_service_type: str
    egress_gateway: bool
    protect_crds: bool
    kiali: bool
    prometheus: bool
    data_plane: str = "sidecar"
    """sidecar (an Envoy in every pod) or ambient (ztunnel per node, waypoints for L7)."""
    platform: str | None = None
    """`global.platform` of the charts (k3d, gke, ...); None: a plain cluster."""


@dataclass(frozen=True, kw_only=True)
class HeaderMatch:
    name: str
    kind: str
    value: str


@dataclass(frozen=True, kw_only=True)
class RequestMatch:
    """One Istio HTTPMatchRequest: all of its conditions must hold."""

    headers: tuple[HeaderMatch, ...] = ()
    uri: tuple[str, str] | None = None


@dataclass(frozen=True, kw_only=True)
class Destination:
    version: str
    weight: int | None
    """None for a lone destination written as `to:` (Istio gives it 100%)."""


@dataclass(frozen=True, kw_only=True)
class Delay:
    fixed_delay: str
    """A duration such as `7s`."""
    percentage: float


@dataclass(frozen=True, kw_only=True)
class Abort:
    http_status: int
    percentage: float


@dataclass(frozen=True, kw_only=True)
class Fault:
    """Fault injection on one route: a delay, an abort or both."""

    delay: Delay | None = None
    abort: Abort | None = None


@dataclass(frozen=True, kw_only=True)
class Retries:
    attempts: int
    per_try_timeout: str | None = None
    retry_on: str | None = None


@dataclass(frozen=True, kw_only=True)
class Mirror:
    """Copy requests of a route to another deployed version (responses dropped)."""

    version: str
    percentage: float | None = None
    """None: Istio's default, every request."""


@dataclass(frozen=True, kw_only=True)
class Route:
    """An HTTP route: requests that match (any of `matches`; none = all) go to
    `destinations`, split by weight, with the route's own fault, timeout, retries
    and mirror."""

    matches: tuple[RequestMatch, ...] = ()
    destinations: tuple[Destination, ...]
    fault: Fault | None = None
    timeout: str | None = None
    retries: Retries | None = None
    mirror: Mirror | None = None


@dataclass(frozen=True, kw_only=True)
class TrafficPolicy:
    """A DestinationRule traffic policy, each part already in Istio's spelling."""

    load_balancer: Mapping | None = None
    connection_pool: Mapping | None = None
    outlier_detection: Mapping | None = None

    def as_istio(self) -> dict:
        body: dict = {}
        if self.load_balancer is not None:
            body["loadBalancer"] = _copy(self.load_balancer)
        if self.connection_pool is not None:
            body["connectionPool"] = _copy(self.connection_pool)
        if self.outlier_detection is not None:
            body["outlierDetection"] = _copy(self.outlier_detection)
        return body


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    return value


@dataclass(frozen=True, kw_only=True)
class ServiceSettings:
    """One service of the application as this stack deploys and routes it."""

    name: str
    versions: tuple[str, ...]
    """Deployed versions, in the application's order."""
    replicas: int
    routes: tuple[Route, ...]
    """Match routes in the order written, then the default (catch-all) route."""
    resources: ResourceRequirements | None = None
    """Container requests/limits set for this service in stack config."""
    traffic_policy: TrafficPolicy | None = None
    """Service-level DestinationRule policy (load balancer, circuit breaking)."""
    subset_policies: Mapping[str, TrafficPolicy] = field(default_factory=dict)
    """Per deployed version, a subset-level policy that overrides the service's."""

    @property
    def default_route(self) -> Route:
        return self.routes[-1]


@dataclass(frozen=True, kw_only=True)
class AppSettings:
    application: Application
    namespace: str
    image_registry: str
    image_tag: str
    replicas: int
    """Replicas of every Deployment unless a service says otherwise."""
    restricted_pods: bool
    resources: ResourceRequirements | None
    """Container requests/limits set for every service in stack config."""
    default_resources: ResourceRequirements | None
    """The environment's requests/limits for containers that state none at all."""
    tracing_endpoint: str | None
    """Where traces go (e.g. a Jaeger collector URL); None leaves tracing unconfigured."""


@dataclass(frozen=True, kw_only=True)
class StoreSettings:
    """One stateful store of the application as this stack provisions it."""

    name: str
    storage_size: str
    storage_class: str | None
    """None: the cluster's default StorageClass."""
    protect: bool
    """Pulumi refuses to delete or replace the StatefulSet (its volume claims are
    retained by Kubernetes either way)."""


@dataclass(frozen=True, kw_only=True)
class IngressTls:
    """HTTPS on the ingress gateway (443, `tls.mode: SIMPLE`)."""

    credential_name: str
    """Kubernetes TLS Secret in the ingress gateway's namespace."""
    https_redirect: bool
    """Port 80 answers with a redirect to HTTPS."""
    certificate: str | None = None
    private_key: str | None = None
    """PEM texts from Pulumi secrets; when given, the stack creates the Secret."""


@dataclass(frozen=True, kw_only=True)
class IngressSettings:
    hosts: tuple[str, ...]
    observability: Mapping[str, str]
    """Addon (kiali, tracing) → the host it is exposed on through the ingress gateway;
    empty: none exposed."""
    tls: IngressTls | None


@dataclass(frozen=True, kw_only=True)
class SecuritySettings:
    mtls_mode: str
    """PeerAuthentication `default` mode in the app namespace; NONE creates none."""
    istio_mutual: bool
    """DestinationRules originate Istio mTLS (`tls.mode: ISTIO_MUTUAL`)."""
    authorization: str
    """none, or least-privilege (allow-nothing plus per-service viewers)."""


@dataclass(frozen=True, kw_only=True)
class ExternalPort:
    number: int
    name: str
    protocol: str


@dataclass(frozen=True, kw_only=True)
class TlsOrigination:
    """The sidecar opens TLS to the external host on `port`; plain requests to
    `from_port` (if set) are rewritten to it."""

    port: int
    from_port: int | None = None


@dataclass(frozen=True, kw_only=True)
class ExternalService:
    """A host outside the mesh that workloads may call (a ServiceEntry)."""

    name: str
    """Base of the Istio object names (ServiceEntry name, DestinationRule subset)."""
    host: str
    ports: tuple[ExternalPort, ...]
    resolution: str
    tls_origination: TlsOrigination | None = None
    load_balancer: Mapping | None = None
    egress_gateway_port: ExternalPort | None = None
    """The port whose traffic leaves through the egress gateway; None = directly."""


@dataclass(frozen=True, kw_only=True)
class EgressSettings:
    services: tuple[ExternalService, ...] = ()


class SecretValue(str):
    """A secret config value as the settings see it: only the mark that it is set as
    a Pulumi secret (offline the ciphertext cannot be decrypted; in a real run the
    program reads the value itself as a secret Output)."""




@dataclass(frozen=True, kw_only=True)
class RolloutSettings:
    """Limits on how fast traffic may move between versions."""

    max_step: float | None
    """Largest shift, in percentage points, of any destination's share in one change;
    None: no limit."""
    guard_previews: bool
    """Whether the program itself reads its previously deployed `traffic` output
    (a StackReference to its own stack) and refuses a larger step."""
    analysis: Analysis
    """Metric gates `meshplan rollout` checks before each next step."""
    started_from: StartedFrom | None
    """Where a running `meshplan rollout` started (it writes and removes this)."""


@dataclass(frozen=True, kw_only=True)
class GatewayApiSettings:
    """The Kubernetes Gateway API CRDs a gateway-api stack routes with."""

    version: str = GATEWAY_API_VERSION
    channel: str = "standard"
    """standard, or experimental (HTTPRoute retries are only there)."""
    install_crds: bool = True
    """False: a cluster admin owns the CRDs; the program only checks they are there."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything one stack asks for, validated."""

    stack: str
    source: str
    """The file these settings came from, for messages."""
    environment: str
    istio: IstioSettings
    app: AppSettings
    services: Mapping[str, ServiceSettings]
    """Deployed services by name (application order); backing stores included."""
    ingress: IngressSettings
    stores: Mapping[str, StoreSettings]
    """The application's stateful stores by name (all of them are deployed)."""
    security: SecuritySettings
    egress: EgressSettings
    rollout: RolloutSettings
    layers: LayerSettings = field(default_factory=lambda: LayerSettings())
    """Which layers this stack holds and the stacks it builds on; all three by default."""
    traffic_api: str = "istio"
    """istio (VirtualService, DestinationRule subsets) or gateway-api (HTTPRoutes)."""
    gateway_api: GatewayApiSettings = field(default_factory=lambda: GatewayApiSettings())
    secrets_not_set: tuple[str, ...] = ()
    """Secret config keys this stack needs and its file does not hold. Only an
    offline parse (`unset_secrets_allowed`) lets them through; the engine's refuses."""
    multicluster: MultiClusterSettings | None = None
    """The mesh over several clusters (`mesh`, `clusters`, `app.placement`); None for
    a stack of one cluster (no `clusters`), which the program builds as before."""

    def service(self, name: str) -> ServiceSettings:
        return self.services[name]

    @property
    def gateway_api_routes(self) -> bool:
        """Whether traffic is routed with HTTPRoutes (and the Gateway API CRDs are needed)."""
        return self.traffic_api == "gateway-api"

    @property
    def ambient(self) -> bool:
        return self.istio.data_plane == "ambient"

    @property
    def routed_services(self) -> tuple[ServiceSettings, ...]:
        app = self.app.application
        return tuple(s for s in self.services.values() if app.service(s.name).routed)


LAYERS = ("mesh", "app", "traffic")
"""The layers of an environment, bottom up: each builds on the ones before it."""


@dataclass(frozen=True, kw_only=True)
class LayerSettings:
    """The layers one stack deploys and, for each layer it builds on but does not
    hold, the fully qualified name (`<org>/<project>/<stack>`) of the stack that does."""

    layers: tuple[str, ...] = LAYERS
    stack_refs: Mapping[str, str] = field(default_factory=dict)
    """Layer (mesh, app) → the stack that holds it."""

    @property
    def layered(self) -> bool:
        """Whether this stack holds fewer than all layers (its outputs are a contract)."""
        return set(self.layers) != set(LAYERS)

    def holds(self, layer: str) -> bool:
        return layer in self.layers
