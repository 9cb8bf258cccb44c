"""Stack settings: the `bookinfo-mesh:*` config of one stack, parsed once and
validated before anything is registered.

The same parser serves the Pulumi program (config handed over by the engine) and
`meshplan` (config read from a `Pulumi.<stack>.yaml` file), so a typo or a bad weight
is refused identically in both, with one line naming the file, the key path, the
value and what is allowed. Every default lives here, in `ENVIRONMENTS` or in the
dataclass fields, and nowhere else.
"""
from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Collection, Mapping

import yaml

from model.apps import APPLICATIONS, Application, Service, service_namespace
from model.errors import ConfigError
from model.gates import Analysis, parse_analysis
from model.rollout_plan import StartedFrom, parse_started_from

PROJECT = "bookinfo-mesh"

ISTIO_CHART_REPOSITORY = "https://istio-release.storage.googleapis.com/charts"
DEFAULT_ISTIO_VERSION = "1.30.3"

OUTBOUND_POLICIES = ("ALLOW_ANY", "REGISTRY_ONLY")
MTLS_MODES = ("NONE", "PERMISSIVE", "STRICT", "DISABLE")
"""PeerAuthentication modes; NONE means the stack creates no PeerAuthentication."""
AUTHORIZATION_MODES = ("none", "least-privilege")
LOAD_BALANCERS = ("ROUND_ROBIN", "LEAST_REQUEST", "RANDOM")
RESOLUTIONS = ("DNS", "NONE")
PORT_PROTOCOLS = ("HTTP", "HTTPS", "HTTP2", "GRPC", "TLS", "TCP", "MONGO")
# Envoy's retry conditions as Istio accepts them in retryOn (besides status codes).
RETRY_CONDITIONS = (
    "5xx", "gateway-error", "reset", "connect-failure", "envoy-ratelimited", "retriable-4xx",
    "refused-stream", "retriable-status-codes", "retriable-headers", "cancelled",
    "deadline-exceeded", "internal", "resource-exhausted", "unavailable",
)
SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer")
MATCH_KINDS = ("exact", "prefix", "regex")
MAX_WEIGHT = 1_000_000

_VERSION_RE = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$")
_DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_HEADER_RE = re.compile(r"^[a-z0-9][-a-z0-9_.]*$")
_IMAGE_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DURATION_RE = re.compile(r"^[0-9]+(\.[0-9]+)?(ms|s|m|h)$")
_EXTERNAL_HOST_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$")
_HOST_RE = re.compile(r"^(\*|(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)$")


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


@dataclass(frozen=True)
class Environment:
    """The posture a stack starts from; each value can still be set explicitly."""

    name: str
    replicas: int
    restricted_pods: bool
    addons: bool
    protect_crds: bool
    ingress_service_type: str
    istiod_replicas: int
    access_log: bool
    outbound_traffic_policy: str
    mtls_mode: str
    """PeerAuthentication mode for the app namespace; NONE creates none."""
    istio_mutual: bool
    """DestinationRules carry `trafficPolicy.tls.mode: ISTIO_MUTUAL`."""
    authorization: str
    """`least-privilege`: allow-nothing plus one viewer policy per service."""
    resources: ResourceRequirements | None
    """Requests/limits of application containers that state none of their own."""


# Anything not marked dev or staging gets the production posture: a stack that
# forgets to say what it is must not come up open. dev and staging create no
# security objects, so their render stays upstream Bookinfo.
ENVIRONMENTS: Mapping[str, Environment] = {
    "dev": Environment(
        name="dev", replicas=1, restricted_pods=False, addons=True, protect_crds=False,
        ingress_service_type="NodePort", istiod_replicas=1, access_log=True,
        outbound_traffic_policy="ALLOW_ANY", mtls_mode="NONE", istio_mutual=False,
        authorization="none", resources=None),
    "staging": Environment(
        name="staging", replicas=2, restricted_pods=False, addons=False, protect_crds=True,
        ingress_service_type="LoadBalancer", istiod_replicas=1, access_log=True,
        outbound_traffic_policy="ALLOW_ANY", mtls_mode="NONE", istio_mutual=False,
        authorization="none", resources=None),
    "prod": Environment(
        name="prod", replicas=3, restricted_pods=True, addons=False, protect_crds=True,
        ingress_service_type="LoadBalancer", istiod_replicas=2, access_log=True,
        outbound_traffic_policy="REGISTRY_ONLY", mtls_mode="STRICT", istio_mutual=True,
        authorization="least-privilege",
        # Sized for Bookinfo's heaviest container (reviews, a Liberty JVM); the
        # scheduler needs requests, and limits keep one pod from starving a node.
        resources=ResourceRequirements(requests={"cpu": "100m", "memory": "256Mi"},
                                       limits={"cpu": "1", "memory": "1Gi"})),
}
DEFAULT_ENVIRONMENT = "prod"


# --------------------------------------------------------------------------- types


@dataclass(frozen=True, kw_only=True)
class IstioSettings:
    """How Istio is installed (or that it already is)."""

    install: bool = True
    version: str = DEFAULT_ISTIO_VERSION
    chart_repository: str = ISTIO_CHART_REPOSITORY
    revision: str = ""
    """Control-plane revision; empty for the default revision."""
    access_log: bool
    outbound_traffic_policy: str
    istiod_replicas: int
    istiod_resources: ResourceRequirements | None = None
    ingress_service_type: str
    egress_gateway: bool = False
    protect_crds: bool
    kiali: bool
    prometheus: bool


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
    resources: ResourceRequirements | None = None
    """Container requests/limits set for every service in stack config."""
    default_resources: ResourceRequirements | None = None
    """The environment's requests/limits for containers that state none at all."""
    tracing_endpoint: str | None = None
    """Where traces go (e.g. a Jaeger collector URL); None leaves tracing unconfigured."""


@dataclass(frozen=True, kw_only=True)
class StoreSettings:
    """One stateful store of the application as this stack provisions it."""

    name: str
    storage_size: str
    storage_class: str | None = None
    """None: the cluster's default StorageClass."""
    protect: bool
    """Pulumi refuses to delete or replace the StatefulSet (its volume claims are
    retained by Kubernetes either way)."""


@dataclass(frozen=True, kw_only=True)
class IngressTls:
    """HTTPS on the ingress gateway (443, `tls.mode: SIMPLE`)."""

    credential_name: str
    """Kubernetes TLS Secret in the ingress gateway's namespace."""
    https_redirect: bool = True
    """Port 80 answers with a redirect to HTTPS."""
    certificate: str | None = None
    private_key: str | None = None
    """PEM texts from Pulumi secrets; when given, the stack creates the Secret."""


@dataclass(frozen=True, kw_only=True)
class IngressSettings:
    hosts: tuple[str, ...] = ("*",)
    observability: Mapping[str, str] = field(default_factory=dict)
    """Addon (kiali, tracing) → the host it is exposed on through the ingress gateway;
    empty: none exposed."""
    tls: IngressTls | None = None


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


@dataclass(frozen=True, kw_only=True)
class RolloutSettings:
    """Limits on how fast traffic may move between versions."""

    max_step: float | None = None
    """Largest shift, in percentage points, of any destination's share in one change;
    None: no limit."""
    guard_previews: bool = False
    """Whether the program itself reads its previously deployed `traffic` output
    (a StackReference to its own stack) and refuses a larger step."""
    analysis: Analysis = Analysis()
    """Metric gates `meshplan rollout` checks before each next step."""
    started_from: StartedFrom | None = None
    """Where a running `meshplan rollout` started (it writes and removes this)."""


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
    stores: Mapping[str, StoreSettings] = field(default_factory=dict)
    """The application's stateful stores by name (all of them are deployed)."""
    security: SecuritySettings
    egress: EgressSettings
    rollout: RolloutSettings = RolloutSettings()

    def service(self, name: str) -> ServiceSettings:
        return self.services[name]

    @property
    def routed_services(self) -> tuple[ServiceSettings, ...]:
        app = self.app.application
        return tuple(s for s in self.services.values() if app.service(s.name).routed)


# --------------------------------------------------------------------------- reader


class _Reader:
    """Walks raw config with the key path at hand, so every refusal can name it."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, path: str, message: str, *value: Any) -> ConfigError:
        if value:
            return ConfigError(file=self.source, path=path, value=value[0], message=message)
        return ConfigError(file=self.source, path=path, message=message)

    def unknown_key(self, path: str, key: str, allowed: tuple[str, ...]) -> ConfigError:
        """A typo must never fall back to a default: refuse it, and name the key
        that was probably meant."""
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        return self.fail(path, f"unknown key; {hint}allowed: {', '.join(allowed)}")

    def mapping(self, value: Any, path: str, allowed: tuple[str, ...] | None = None) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(path, "expected a mapping", value)
        for key in value:
            if not isinstance(key, str):
                raise self.fail(f"{path}.{key}", "keys must be strings", key)
            if allowed is not None and key not in allowed:
                raise self.unknown_key(f"{path}.{key}", key, allowed)
        return value

    def boolean(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(path, "expected true or false", value)
        return value

    def integer(self, value: Any, path: str, *, minimum: int = 0, maximum: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise self.fail(path, "expected a whole number", value)
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" and at most {maximum}" if maximum is not None else ""
            raise self.fail(path, f"expected a whole number of at least {minimum}{upper}", value)
        return value

    def string(
        self,
        value: Any,
        path: str,
        *,
        choices: tuple[str, ...] | None = None,
        pattern: re.Pattern | None = None,
        what: str = "a string",
    ) -> str:
        if not isinstance(value, str) or (not value and choices is None and pattern is None):
            expected = f"one of {', '.join(choices)}" if choices is not None else what
            raise self.fail(path, f"expected {expected}", value)
        if choices is not None and value not in choices:
            raise self.fail(path, f"allowed: {', '.join(choices)}", value)
        if pattern is not None and not pattern.match(value):
            raise self.fail(path, f"expected {what}", value)
        return value

    def strings(self, value: Any, path: str, **kwargs) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            raise self.fail(path, "expected a non-empty list", value)
        items = tuple(self.string(v, f"{path}[{i}]", **kwargs) for i, v in enumerate(value))
        for i, item in enumerate(items):
            if item in items[:i]:
                raise self.fail(f"{path}[{i}]", "listed twice", item)
        return items


def _get(raw: Mapping, key: str, default: Any, convert: Callable[[Any], Any]) -> Any:
    return convert(raw[key]) if key in raw else default


# --------------------------------------------------------------------------- parse

# Config keys whose values are Pulumi secrets. The parser only checks that the ones
# the application needs are there; the program reads them at its config edge as
# secret Outputs, so no plaintext ever enters Settings (or an error message).
SECRET_KEYS = ("databasePassword",)

TOP_LEVEL_KEYS = ("environment", "istio", "app", "services", "ingress", "security", "egress",
                  "stores", "rollout", *SECRET_KEYS)


def parse_settings(config: Mapping[str, Any], *, stack: str, source: str) -> Settings:
    """Validate one stack's project config (keys without the `bookinfo-mesh:` prefix)."""
    r = _Reader(source)
    p = f"{PROJECT}:"
    for key in config:
        if key not in TOP_LEVEL_KEYS:
            raise r.unknown_key(f"{p}{key}", key, TOP_LEVEL_KEYS)

    env_name = _get(
        config, "environment", DEFAULT_ENVIRONMENT,
        lambda v: r.string(v, f"{p}environment", choices=tuple(ENVIRONMENTS)),
    )
    env = ENVIRONMENTS[env_name]
    istio = _parse_istio(r, r.mapping(config.get("istio"), f"{p}istio", _ISTIO_KEYS), env, f"{p}istio")
    app = _parse_app(r, r.mapping(config.get("app"), f"{p}app", _APP_KEYS), env, f"{p}app")
    services = _parse_services(
        r, r.mapping(config.get("services"), f"{p}services"), app, f"{p}services"
    )
    ingress = _parse_ingress(r, r.mapping(config.get("ingress"), f"{p}ingress", ("hosts", "observability", "tls")),
                             f"{p}ingress", istio)
    security = _parse_security(r, r.mapping(config.get("security"), f"{p}security", _SECURITY_KEYS),
                               env, f"{p}security")
    egress = _parse_egress(r, r.mapping(config.get("egress"), f"{p}egress", ("externalServices",)),
                           istio, app, services, p)
    stores = _parse_stores(r, r.mapping(config.get("stores"), f"{p}stores"), app.application, env, f"{p}stores")
    _check_secrets(r, config, app.application, stack, p)
    return Settings(
        stack=stack,
        source=source,
        environment=env_name,
        istio=istio,
        app=app,
        services=services,
        ingress=ingress,
        stores=stores,
        security=security,
        egress=egress,
        rollout=_parse_rollout(r, r.mapping(config.get("rollout"), f"{p}rollout", ("maxStep", "guardPreviews", "analysis", "startedFrom")),
                               f"{p}rollout"),
    )


def _parse_rollout(r: _Reader, raw: dict, p: str) -> RolloutSettings:
    def step(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 100:
            raise r.fail(f"{p}.maxStep", "expected percentage points above 0 and at most 100", value)
        return float(value)

    return RolloutSettings(
        max_step=_get(raw, "maxStep", None, step),
        guard_previews=_get(raw, "guardPreviews", False, lambda v: r.boolean(v, f"{p}.guardPreviews")),
        analysis=parse_analysis(raw.get("analysis"), f"{p}.analysis", r.source),
        started_from=parse_started_from(raw.get("startedFrom"), f"{p}.startedFrom", r.source),
    )


_ISTIO_KEYS = (
    "install", "version", "chartRepository", "revision", "accessLog", "outboundTrafficPolicy",
    "istiod", "ingressGateway", "egressGateway", "protectCrds", "addons",
)


def _parse_istio(r: _Reader, raw: dict, env: Environment, p: str) -> IstioSettings:
    istiod = r.mapping(raw.get("istiod"), f"{p}.istiod", ("replicas", "resources"))
    ingress = r.mapping(raw.get("ingressGateway"), f"{p}.ingressGateway", ("serviceType",))
    egress = r.mapping(raw.get("egressGateway"), f"{p}.egressGateway", ("enabled",))
    addons = r.mapping(raw.get("addons"), f"{p}.addons", ("kiali", "prometheus"))
    revision = _get(raw, "revision", "", lambda v: _revision(r, v, f"{p}.revision"))
    return IstioSettings(
        install=_get(raw, "install", True, lambda v: r.boolean(v, f"{p}.install")),
        version=_get(
            raw, "version", DEFAULT_ISTIO_VERSION,
            lambda v: r.string(v, f"{p}.version", pattern=_VERSION_RE, what="an Istio version like 1.30.3"),
        ),
        chart_repository=_get(
            raw, "chartRepository", ISTIO_CHART_REPOSITORY,
            lambda v: r.string(v, f"{p}.chartRepository", pattern=re.compile(r"^(https?|oci)://\S+$"),
                               what="a chart repository URL"),
        ),
        revision=revision,
        access_log=_get(raw, "accessLog", env.access_log, lambda v: r.boolean(v, f"{p}.accessLog")),
        outbound_traffic_policy=_get(
            raw, "outboundTrafficPolicy", env.outbound_traffic_policy,
            lambda v: r.string(v, f"{p}.outboundTrafficPolicy", choices=OUTBOUND_POLICIES),
        ),
        istiod_replicas=_get(
            istiod, "replicas", env.istiod_replicas,
            lambda v: r.integer(v, f"{p}.istiod.replicas", minimum=1, maximum=10),
        ),
        istiod_resources=_get(
            istiod, "resources", None, lambda v: _resources(r, v, f"{p}.istiod.resources")
        ),
        ingress_service_type=_get(
            ingress, "serviceType", env.ingress_service_type,
            lambda v: r.string(v, f"{p}.ingressGateway.serviceType", choices=SERVICE_TYPES),
        ),
        egress_gateway=_get(egress, "enabled", False, lambda v: r.boolean(v, f"{p}.egressGateway.enabled")),
        protect_crds=_get(raw, "protectCrds", env.protect_crds, lambda v: r.boolean(v, f"{p}.protectCrds")),
        kiali=_get(addons, "kiali", env.addons, lambda v: r.boolean(v, f"{p}.addons.kiali")),
        prometheus=_get(addons, "prometheus", env.addons, lambda v: r.boolean(v, f"{p}.addons.prometheus")),
    )


def _revision(r: _Reader, value: Any, path: str) -> str:
    if value in ("", "default"):
        return ""
    return r.string(value, path, pattern=_DNS_LABEL_RE,
                    what="a revision name (lowercase letters, digits and '-'), or '' for the default")


_QUANTITY_RE = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$")


def _resources(r: _Reader, value: Any, path: str) -> ResourceRequirements:
    raw = r.mapping(value, path, ("requests", "limits"))
    parts = {}
    for part in ("requests", "limits"):
        amounts = r.mapping(raw.get(part), f"{path}.{part}", ("cpu", "memory"))
        parts[part] = {
            k: r.string(str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v,
                        f"{path}.{part}.{k}", pattern=_QUANTITY_RE, what="a quantity like 500m or 2Gi")
            for k, v in amounts.items()
        }
    return ResourceRequirements(**parts)


_APP_KEYS = ("name", "namespace", "replicas", "image", "restrictedPods", "resources", "tracing")


def _parse_app(r: _Reader, raw: dict, env: Environment, p: str) -> AppSettings:
    name = _get(raw, "name", "bookinfo", lambda v: r.string(v, f"{p}.name", choices=tuple(APPLICATIONS)))
    application = APPLICATIONS[name]
    image = r.mapping(raw.get("image"), f"{p}.image", ("registry", "tag"))
    return AppSettings(
        application=application,
        namespace=_get(
            raw, "namespace", application.default_namespace,
            lambda v: r.string(v, f"{p}.namespace", pattern=_DNS_LABEL_RE, what="a namespace name"),
        ),
        image_registry=_get(
            image, "registry", application.image_registry,
            lambda v: r.string(v, f"{p}.image.registry", pattern=re.compile(r"^[a-z0-9][-a-z0-9._:/]*[a-z0-9]$"),
                               what="an image registry like registry.istio.io/release"),
        ),
        image_tag=_get(
            image, "tag", application.image_tag,
            lambda v: r.string(str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v,
                               f"{p}.image.tag", pattern=_IMAGE_TAG_RE, what="an image tag"),
        ),
        replicas=_get(raw, "replicas", env.replicas,
                      lambda v: r.integer(v, f"{p}.replicas", minimum=0, maximum=100)),
        restricted_pods=_get(raw, "restrictedPods", env.restricted_pods,
                             lambda v: r.boolean(v, f"{p}.restrictedPods")),
        resources=_get(raw, "resources", None, lambda v: _resources(r, v, f"{p}.resources")),
        default_resources=env.resources,
        tracing_endpoint=_get(
            r.mapping(raw.get("tracing"), f"{p}.tracing", ("endpoint",)), "endpoint", None,
            lambda v: r.string(v, f"{p}.tracing.endpoint", pattern=re.compile(r"^https?://\S+$"),
                               what="an http(s) URL"),
        ),
    )


_STORAGE_CLASS_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


def _parse_stores(r: _Reader, raw: dict, app: Application, env: Environment, p: str) -> dict[str, StoreSettings]:
    known = tuple(s.name for s in app.stores)
    for name in raw:
        if name not in known:
            raise r.fail(f"{p}.{name}", f"no such store in {app.name}; allowed: {', '.join(known) or 'none'}")
    parsed = {}
    for store in app.stores:
        sp = f"{p}.{store.name}"
        cfg = r.mapping(raw.get(store.name), sp, ("size", "storageClass", "protect"))
        parsed[store.name] = StoreSettings(
            name=store.name,
            storage_size=_get(cfg, "size", store.storage_size,
                              lambda v: r.string(v, f"{sp}.size", pattern=_QUANTITY_RE,
                                                 what="a quantity like 5Gi")),
            storage_class=_get(cfg, "storageClass", None,
                               lambda v: r.string(v, f"{sp}.storageClass", pattern=_STORAGE_CLASS_RE,
                                                  what="a StorageClass name")),
            # The posture that protects Istio's CRDs protects the data too.
            protect=_get(cfg, "protect", env.protect_crds, lambda v: r.boolean(v, f"{sp}.protect")),
        )
    return parsed


def _check_secrets(r: _Reader, config: Mapping[str, Any], app: Application, stack: str, p: str) -> None:
    """Every secret the application needs is set, and set as a Pulumi secret: a
    plaintext value would sit readable in the stack file and in the state. The value
    is never echoed."""
    for key in SECRET_KEYS:
        value = config.get(key)
        set_with = f"set it with `pulumi config set --secret {key} <value> --stack {stack}`"
        if value is not None and not isinstance(value, SecretValue):
            raise r.fail(f"{p}{key}", f"holds plaintext; a password must be a Pulumi secret: {set_with}")
        if value is None and key in (needed.config_key for needed in app.secrets):
            raise r.fail(f"{p}{key}", f"required by {app.name} and not set; {set_with}")


_ROUTE_OPTIONS = ("fault", "timeout", "retries", "mirror")
_SERVICE_KEYS = ("versions", "replicas", "resources", "routes", "weights", "to", *_ROUTE_OPTIONS,
                 "trafficPolicy", "subsetTrafficPolicy")


def _parse_services(r: _Reader, raw: dict, app_settings: AppSettings, p: str) -> dict[str, ServiceSettings]:
    app = app_settings.application
    for name in raw:
        if name not in app.service_names or app.service(name).backing:
            routable = ", ".join(s.name for s in app.services if not s.backing)
            raise r.fail(f"{p}.{name}", f"no such service in {app.name}; allowed: {routable}")
    parsed: dict[str, ServiceSettings] = {}
    for service in app.services:
        if service.backing:
            continue
        sp = f"{p}.{service.name}"
        svc = r.mapping(raw.get(service.name), sp, _SERVICE_KEYS)
        versions = _get(svc, "versions", service.default_versions,
                        lambda v: _versions(r, v, f"{sp}.versions", service.version_names))
        # Keep the application's order, so a stack that lists [v3, v1] renders as [v1, v3].
        versions = tuple(v for v in service.version_names if v in versions)
        replicas = _get(svc, "replicas", app_settings.replicas,
                        lambda v: r.integer(v, f"{sp}.replicas", minimum=0, maximum=100))
        routes = _routes(r, svc, sp, versions)
        subset_raw = r.mapping(svc.get("subsetTrafficPolicy"), f"{sp}.subsetTrafficPolicy")
        subset_policies = {}
        for version, policy in subset_raw.items():
            vp = f"{sp}.subsetTrafficPolicy.{version}"
            if version not in versions:
                raise r.fail(vp, f"version is not deployed; deployed: {', '.join(versions)}")
            subset_policies[version] = _traffic_policy(r, policy, vp)
        parsed[service.name] = ServiceSettings(
            name=service.name, versions=versions, replicas=replicas, routes=routes,
            resources=_get(svc, "resources", None, lambda v: _resources(r, v, f"{sp}.resources")),
            traffic_policy=_get(svc, "trafficPolicy", None,
                                lambda v: _traffic_policy(r, v, f"{sp}.trafficPolicy")),
            subset_policies=subset_policies,
        )
    # Backing stores come with the first deployed version that requires them.
    for service in app.services:
        if not service.backing:
            continue
        needed = any(
            service.name in app.service(s.name).version(v).requires
            for s in parsed.values()
            for v in s.versions
        )
        if needed:
            parsed[service.name] = ServiceSettings(
                name=service.name,
                versions=tuple(v.name for v in service.versions),
                replicas=1,
                routes=(),
            )
    return {name: parsed[name] for name in app.service_names if name in parsed}


def _versions(r: _Reader, value: Any, path: str, known: tuple[str, ...]) -> tuple[str, ...]:
    return r.strings(value, path, choices=known)


def _routes(r: _Reader, svc: dict, sp: str, deployed: tuple[str, ...]) -> tuple[Route, ...]:
    routes = []
    raw_routes = svc.get("routes", [])
    if not isinstance(raw_routes, list):
        raise r.fail(f"{sp}.routes", "expected a list of routes", raw_routes)
    for i, raw_route in enumerate(raw_routes):
        rp = f"{sp}.routes[{i}]"
        route = r.mapping(raw_route, rp, ("match", "to", "weights", *_ROUTE_OPTIONS))
        if "match" not in route:
            raise r.fail(rp, "a route needs a match (the default route is the service's own to/weights)")
        if "to" not in route and "weights" not in route:
            raise r.fail(rp, "a route needs a destination: give to (one version) or weights")
        routes.append(_route(r, route, rp, deployed, matches=_matches(r, route["match"], f"{rp}.match")))
    routes.append(_route(r, svc, sp, deployed, matches=()))
    return tuple(routes)


def _route(r: _Reader, raw: dict, path: str, deployed: tuple[str, ...], *,
           matches: tuple[RequestMatch, ...]) -> Route:
    # A fault, timeout, retries or mirror belongs to a route: on the service it
    # applies to the default route, which must then be stated, not implied.
    for option in _ROUTE_OPTIONS:
        if option in raw and "to" not in raw and "weights" not in raw:
            raise r.fail(f"{path}.{option}", "needs a route to apply to: give to (one version) or weights")
    destinations = _destinations(r, raw, path, deployed)
    mirror = _get(raw, "mirror", None, lambda v: _mirror(r, v, f"{path}.mirror", deployed))
    if mirror is not None and any(d.version == mirror.version for d in destinations):
        raise r.fail(f"{path}.mirror.version", "mirroring to a version the route already sends to",
                     mirror.version)
    return Route(
        matches=matches,
        destinations=destinations,
        fault=_get(raw, "fault", None, lambda v: _fault(r, v, f"{path}.fault")),
        timeout=_get(raw, "timeout", None, lambda v: _duration(r, v, f"{path}.timeout")),
        retries=_get(raw, "retries", None, lambda v: _retries(r, v, f"{path}.retries")),
        mirror=mirror,
    )


def _duration(r: _Reader, value: Any, path: str) -> str:
    return r.string(value, path, pattern=_DURATION_RE, what="a duration like 0.5s, 7s, 250ms or 2m")


def _percentage(r: _Reader, value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
        raise r.fail(path, "expected a percentage from 0 to 100", value)
    return float(value)


def _fault(r: _Reader, value: Any, path: str) -> Fault:
    raw = r.mapping(value, path, ("delay", "abort"))
    if not raw:
        raise r.fail(path, "expected delay, abort or both", value)
    delay = abort = None
    if "delay" in raw:
        d = r.mapping(raw["delay"], f"{path}.delay", ("fixedDelay", "percentage"))
        if "fixedDelay" not in d:
            raise r.fail(f"{path}.delay.fixedDelay", "required (a duration like 7s)")
        delay = Delay(fixed_delay=_duration(r, d["fixedDelay"], f"{path}.delay.fixedDelay"),
                      percentage=_get(d, "percentage", 100.0,
                                      lambda v: _percentage(r, v, f"{path}.delay.percentage")))
    if "abort" in raw:
        a = r.mapping(raw["abort"], f"{path}.abort", ("httpStatus", "percentage"))
        if "httpStatus" not in a:
            raise r.fail(f"{path}.abort.httpStatus", "required (an HTTP status like 500)")
        abort = Abort(http_status=r.integer(a["httpStatus"], f"{path}.abort.httpStatus", minimum=200, maximum=599),
                      percentage=_get(a, "percentage", 100.0,
                                      lambda v: _percentage(r, v, f"{path}.abort.percentage")))
    return Fault(delay=delay, abort=abort)


def _retries(r: _Reader, value: Any, path: str) -> Retries:
    raw = r.mapping(value, path, ("attempts", "perTryTimeout", "retryOn"))
    if "attempts" not in raw:
        raise r.fail(f"{path}.attempts", "required (how many retries, 0 to turn them off)")
    retry_on = None
    if "retryOn" in raw:
        retry_on = r.string(raw["retryOn"], f"{path}.retryOn")
        for condition in retry_on.split(","):
            if condition not in RETRY_CONDITIONS and not re.fullmatch(r"[1-5][0-9][0-9]", condition):
                raise r.fail(f"{path}.retryOn", f"unknown retry condition {condition!r}; allowed: "
                             f"{', '.join(RETRY_CONDITIONS)} or an HTTP status", retry_on)
    return Retries(
        attempts=r.integer(raw["attempts"], f"{path}.attempts", minimum=0, maximum=100),
        per_try_timeout=_get(raw, "perTryTimeout", None, lambda v: _duration(r, v, f"{path}.perTryTimeout")),
        retry_on=retry_on,
    )


def _mirror(r: _Reader, value: Any, path: str, deployed: tuple[str, ...]) -> Mirror:
    raw = r.mapping(value, path, ("version", "percentage"))
    if "version" not in raw:
        raise r.fail(f"{path}.version", "required (the deployed version to mirror to)")
    version = raw["version"]
    if version not in deployed:
        raise r.fail(f"{path}.version", f"version is not deployed; deployed: {', '.join(deployed)}", version)
    return Mirror(version=version,
                  percentage=_get(raw, "percentage", None, lambda v: _percentage(r, v, f"{path}.percentage")))


_TCP_POOL = {"maxConnections": 1, "connectTimeout": "duration"}
_HTTP_POOL = {"http1MaxPendingRequests": 1, "http2MaxRequests": 1, "maxRequestsPerConnection": 0,
              "maxRetries": 0, "idleTimeout": "duration"}
_OUTLIER = {"consecutive5xxErrors": 0, "consecutiveGatewayErrors": 0, "interval": "duration",
            "baseEjectionTime": "duration", "maxEjectionPercent": 0, "minHealthPercent": 0}
"""Field → `duration`, or the smallest whole number Istio accepts."""


def _fields(r: _Reader, value: Any, path: str, allowed: Mapping[str, Any]) -> dict:
    raw = r.mapping(value, path, tuple(allowed))
    if not raw:
        raise r.fail(path, f"expected at least one of {', '.join(allowed)}", value)
    body = {}
    for key, kind in allowed.items():
        if key not in raw:
            continue
        if kind == "duration":
            body[key] = _duration(r, raw[key], f"{path}.{key}")
        else:
            percent = key.endswith("Percent")
            body[key] = r.integer(raw[key], f"{path}.{key}", minimum=kind,
                                  maximum=100 if percent else 2**31 - 1)
    return body


def _load_balancer(r: _Reader, value: Any, path: str) -> dict:
    if isinstance(value, str):
        return {"simple": r.string(value, path, choices=LOAD_BALANCERS)}
    raw = r.mapping(value, path, ("consistentHash",))
    if not raw:
        raise r.fail(path, f"expected one of {', '.join(LOAD_BALANCERS)} or consistentHash", value)
    hp = f"{path}.consistentHash"
    by = r.mapping(raw["consistentHash"], hp, ("httpHeaderName", "httpCookie"))
    if len(by) != 1:
        raise r.fail(hp, "expected exactly one of httpHeaderName, httpCookie", raw["consistentHash"])
    if "httpHeaderName" in by:
        return {"consistentHash": {"httpHeaderName": r.string(
            by["httpHeaderName"], f"{hp}.httpHeaderName", pattern=_HEADER_RE, what="a lowercase header name")}}
    cp = f"{hp}.httpCookie"
    cookie = r.mapping(by["httpCookie"], cp, ("name", "path", "ttl"))
    if "name" not in cookie:
        raise r.fail(f"{cp}.name", "required (the cookie name)")
    body = {"name": r.string(cookie["name"], f"{cp}.name")}
    if "path" in cookie:
        body["path"] = r.string(cookie["path"], f"{cp}.path")
    if "ttl" in cookie:
        body["ttl"] = _duration(r, cookie["ttl"], f"{cp}.ttl")
    return {"consistentHash": {"httpCookie": body}}


def _traffic_policy(r: _Reader, value: Any, path: str) -> TrafficPolicy:
    raw = r.mapping(value, path, ("loadBalancer", "connectionPool", "outlierDetection"))
    if not raw:
        raise r.fail(path, "expected loadBalancer, connectionPool or outlierDetection", value)
    pool = None
    if "connectionPool" in raw:
        pp = f"{path}.connectionPool"
        parts = r.mapping(raw["connectionPool"], pp, ("tcp", "http"))
        if not parts:
            raise r.fail(pp, "expected tcp, http or both", raw["connectionPool"])
        pool = {}
        if "tcp" in parts:
            pool["tcp"] = _fields(r, parts["tcp"], f"{pp}.tcp", _TCP_POOL)
        if "http" in parts:
            pool["http"] = _fields(r, parts["http"], f"{pp}.http", _HTTP_POOL)
    return TrafficPolicy(
        load_balancer=_get(raw, "loadBalancer", None, lambda v: _load_balancer(r, v, f"{path}.loadBalancer")),
        connection_pool=pool,
        outlier_detection=_get(raw, "outlierDetection", None,
                               lambda v: _fields(r, v, f"{path}.outlierDetection", _OUTLIER)),
    )


def _destinations(r: _Reader, raw: dict, path: str, deployed: tuple[str, ...]) -> tuple[Destination, ...]:
    def deployed_version(value: Any, vpath: str) -> str:
        if value not in deployed:
            raise r.fail(vpath, f"version is not deployed; deployed: {', '.join(deployed)}", value)
        return value

    if "to" in raw and "weights" in raw:
        raise r.fail(f"{path}.to", "give either to (one version) or weights, not both")
    if "weights" in raw:
        weights = r.mapping(raw["weights"], f"{path}.weights")
        if not weights:
            raise r.fail(f"{path}.weights", "expected at least one version", weights)
        destinations = tuple(
            Destination(
                version=deployed_version(version, f"{path}.weights.{version}"),
                weight=r.integer(weight, f"{path}.weights.{version}", minimum=0, maximum=MAX_WEIGHT),
            )
            for version, weight in weights.items()
        )
        if len(destinations) > 1 and sum(d.weight or 0 for d in destinations) == 0:
            raise r.fail(f"{path}.weights", "weights are all zero; at least one must be above 0", weights)
        return destinations
    if "to" in raw:
        return (Destination(version=deployed_version(raw["to"], f"{path}.to"), weight=None),)
    return (Destination(version=deployed[0], weight=None),)


def _matches(r: _Reader, value: Any, path: str) -> tuple[RequestMatch, ...]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise r.fail(path, "expected at least one match", value)
    matches = []
    for i, item in enumerate(items):
        mp = path if not isinstance(value, list) else f"{path}[{i}]"
        raw = r.mapping(item, mp, ("headers", "uri"))
        if not raw:
            raise r.fail(mp, "a match needs headers or uri", item)
        headers = []
        for name, condition in r.mapping(raw.get("headers"), f"{mp}.headers").items():
            hp = f"{mp}.headers.{name}"
            r.string(name, hp, pattern=_HEADER_RE, what="a lowercase header name")
            kind, text = _one_condition(r, condition, hp)
            headers.append(HeaderMatch(name=name, kind=kind, value=text))
        uri = _one_condition(r, raw["uri"], f"{mp}.uri") if "uri" in raw else None
        matches.append(RequestMatch(headers=tuple(headers), uri=uri))
    return tuple(matches)


def _one_condition(r: _Reader, value: Any, path: str) -> tuple[str, str]:
    raw = r.mapping(value, path, MATCH_KINDS)
    if len(raw) != 1:
        raise r.fail(path, f"expected exactly one of {', '.join(MATCH_KINDS)}", value)
    kind, text = next(iter(raw.items()))
    if kind == "regex":
        try:
            re.compile(text)
        except (re.error, TypeError):
            raise r.fail(f"{path}.regex", "not a valid regular expression", text) from None
    return kind, r.string(text, f"{path}.{kind}")


OBSERVABILITY_ADDONS = ("kiali", "tracing")


def _parse_ingress(r: _Reader, raw: dict, p: str, istio: IstioSettings) -> IngressSettings:
    exposed = r.mapping(raw.get("observability"), f"{p}.observability", OBSERVABILITY_ADDONS)
    observability = {
        addon: r.string(host, f"{p}.observability.{addon}", pattern=_HOST_RE, what="a host name")
        for addon, host in exposed.items()
    }
    if "kiali" in observability and not istio.kiali:
        raise r.fail(f"{p}.observability.kiali", "Kiali is not installed; set istio.addons.kiali: true")
    return IngressSettings(
        hosts=_get(raw, "hosts", ("*",), lambda v: r.strings(v, f"{p}.hosts", pattern=_HOST_RE,
                                                            what="a host name or '*'")),
        observability=observability,
        tls=_get(raw, "tls", None, lambda v: _ingress_tls(r, v, f"{p}.tls")),
    )


def _ingress_tls(r: _Reader, value: Any, path: str) -> IngressTls:
    raw = r.mapping(value, path, ("credentialName", "httpsRedirect", "certificate", "privateKey"))
    if "credentialName" not in raw:
        raise r.fail(f"{path}.credentialName", "required (the TLS Secret the gateway serves)")
    if ("certificate" in raw) != ("privateKey" in raw):
        raise r.fail(f"{path}.privateKey" if "certificate" in raw else f"{path}.certificate",
                     "give certificate and privateKey together (both Pulumi secrets), or neither")
    # The PEM texts are never echoed into a message, whatever is wrong with them.
    for key in ("certificate", "privateKey"):
        if key in raw and (not isinstance(raw[key], str) or not raw[key]):
            raise r.fail(f"{path}.{key}", "expected PEM text (set it with pulumi config set --secret)")
    return IngressTls(
        credential_name=r.string(raw["credentialName"], f"{path}.credentialName", pattern=_DNS_LABEL_RE,
                                 what="a Secret name"),
        https_redirect=_get(raw, "httpsRedirect", True, lambda v: r.boolean(v, f"{path}.httpsRedirect")),
        certificate=raw.get("certificate"),
        private_key=raw.get("privateKey"),
    )


_SECURITY_KEYS = ("mtlsMode", "istioMutual", "authorization")


def _parse_security(r: _Reader, raw: dict, env: Environment, p: str) -> SecuritySettings:
    return SecuritySettings(
        mtls_mode=_get(raw, "mtlsMode", env.mtls_mode,
                       lambda v: r.string(v, f"{p}.mtlsMode", choices=MTLS_MODES)),
        istio_mutual=_get(raw, "istioMutual", env.istio_mutual, lambda v: r.boolean(v, f"{p}.istioMutual")),
        authorization=_get(raw, "authorization", env.authorization,
                           lambda v: r.string(v, f"{p}.authorization", choices=AUTHORIZATION_MODES)),
    )


_EXTERNAL_KEYS = ("name", "host", "ports", "resolution", "tlsOrigination", "loadBalancer", "egressGateway")


def _parse_egress(r: _Reader, raw: dict, istio: IstioSettings, app: AppSettings,
                  deployed: Mapping[str, ServiceSettings], p: str) -> EgressSettings:
    """The external hosts the stack lists under `egress`, then the services the
    application itself marks external: one list, so names and hosts stay unique
    across both and each Istio object is built once."""
    gateway_missing = istio.install and not istio.egress_gateway
    raw_services = raw.get("externalServices", [])
    ep_list = f"{p}egress.externalServices"
    if not isinstance(raw_services, list):
        raise r.fail(ep_list, "expected a list of external services", raw_services)
    services: list[ExternalService] = []
    for i, item in enumerate(raw_services):
        ep = f"{ep_list}[{i}]"
        service = _external_service(r, r.mapping(item, ep, _EXTERNAL_KEYS), ep)
        _refuse_clash(r, service, services, ep)
        if service.egress_gateway_port is not None and gateway_missing:
            raise r.fail(f"{ep}.egressGateway",
                         "needs the egress gateway installed: set istio.egressGateway.enabled: true")
        services.append(service)
    listed = len(services)
    application = app.application
    external = [name for name in deployed if application.service(name).external]
    if external and gateway_missing:
        raise r.fail(f"{p}istio.egressGateway.enabled",
                     f"{application.name} reaches {', '.join(external)} through the egress gateway; set it to true",
                     istio.egress_gateway)
    for name in external:
        service = application_external_service(application.service(name), app.namespace)
        clash = _clash(service, services[:listed])
        if clash is not None:
            index, field_name = clash
            raise r.fail(f"{ep_list}[{index}].{field_name}",
                         f"{application.name} already uses it for its external service {name}",
                         getattr(service, field_name))
        services.append(service)
    return EgressSettings(services=tuple(services))


def _clash(service: ExternalService, earlier: list[ExternalService]) -> tuple[int, str] | None:
    """Where `service` repeats the name or host of an earlier one: (index, field)."""
    for index, other in enumerate(earlier):
        for field_name in ("name", "host"):
            if getattr(service, field_name) == getattr(other, field_name):
                return index, field_name
    return None


def _refuse_clash(r: _Reader, service: ExternalService, earlier: list[ExternalService], ep: str) -> None:
    clash = _clash(service, earlier)
    if clash is not None:
        field_name = clash[1]
        message = "used twice; names must be unique" if field_name == "name" else "listed twice"
        raise r.fail(f"{ep}.{field_name}", message, getattr(service, field_name))


def service_fqdn(service: str, namespace: str) -> str:
    """The cluster-local FQDN. Istio matches a ServiceEntry host literally; sidecars
    also answer the short forms (`svc.ns`, `svc.ns.svc`) of cluster-local hosts, so
    a client calling http://bookinfo-payment.bookinfo-ext:8080 meets these routes."""
    return f"{service}.{namespace}.svc.cluster.local"


def external_service_name(service: str) -> str:
    """`external-payment` for `bookinfo-payment`: the name the ServiceEntry and the
    other egress objects of an application's external service go by."""
    return f"external-{service.rsplit('-', 1)[-1]}"


def application_external_service(svc: Service, app_namespace: str) -> ExternalService:
    """A service the application marks external, as an external host whose HTTP
    port leaves through the egress gateway."""
    port = ExternalPort(number=svc.port, name=svc.port_name, protocol="HTTP")
    return ExternalService(
        name=external_service_name(svc.name),
        host=service_fqdn(svc.name, service_namespace(svc, app_namespace)),
        ports=(port,), resolution="DNS", egress_gateway_port=port,
    )


def _external_service(r: _Reader, raw: dict, ep: str) -> ExternalService:
    if "host" not in raw:
        raise r.fail(f"{ep}.host", "required (the external host name, e.g. www.googleapis.com)")
    host = r.string(raw["host"], f"{ep}.host", pattern=_EXTERNAL_HOST_RE, what="a fully qualified host name")
    name = _get(raw, "name", host.replace(".", "-")[:63],
                lambda v: r.string(v, f"{ep}.name", pattern=_DNS_LABEL_RE, what="a DNS label"))
    if "ports" not in raw:
        raise r.fail(f"{ep}.ports", "required (a list of {number, name, protocol})")
    if not isinstance(raw["ports"], list) or not raw["ports"]:
        raise r.fail(f"{ep}.ports", "expected a non-empty list of {number, name, protocol}", raw["ports"])
    ports: list[ExternalPort] = []
    for i, item in enumerate(raw["ports"]):
        pp = f"{ep}.ports[{i}]"
        port_raw = r.mapping(item, pp, ("number", "name", "protocol"))
        for key in ("number", "protocol"):
            if key not in port_raw:
                raise r.fail(f"{pp}.{key}", "required")
        protocol = r.string(port_raw["protocol"], f"{pp}.protocol", choices=PORT_PROTOCOLS)
        port = ExternalPort(
            number=r.integer(port_raw["number"], f"{pp}.number", minimum=1, maximum=65535),
            name=_get(port_raw, "name", protocol.lower(),
                      lambda v: r.string(v, f"{pp}.name", pattern=_DNS_LABEL_RE, what="a port name")),
            protocol=protocol,
        )
        if any(port.number == other.number for other in ports):
            raise r.fail(f"{pp}.number", "listed twice", port.number)
        ports.append(port)

    def port_of(value: Any, path: str, protocols: tuple[str, ...]) -> ExternalPort:
        number = r.integer(value, path, minimum=1, maximum=65535)
        for port in ports:
            if port.number == number:
                if port.protocol not in protocols:
                    raise r.fail(path, f"port {number} is {port.protocol}; expected {' or '.join(protocols)}", value)
                return port
        raise r.fail(path, f"not one of this service's ports ({', '.join(str(q.number) for q in ports)})", value)

    origination = None
    if "tlsOrigination" in raw:
        tp = f"{ep}.tlsOrigination"
        t = r.mapping(raw["tlsOrigination"], tp, ("port", "fromPort"))
        if "port" not in t:
            raise r.fail(f"{tp}.port", "required (the external TLS port, e.g. 443)")
        origination = TlsOrigination(
            port=port_of(t["port"], f"{tp}.port", ("HTTPS", "TLS")).number,
            from_port=_get(t, "fromPort", None, lambda v: port_of(v, f"{tp}.fromPort", ("HTTP",)).number),
        )
    gateway_port = None
    if "egressGateway" in raw:
        gp = f"{ep}.egressGateway"
        g = r.mapping(raw["egressGateway"], gp, ("port",))
        if "port" not in g:
            raise r.fail(f"{gp}.port", "required (the service port whose traffic leaves through the gateway)")
        gateway_port = port_of(g["port"], f"{gp}.port", ("HTTP", "HTTPS", "TLS"))
        if origination is not None:
            raise r.fail(gp, "TLS origination at the egress gateway is not supported; use one or the other")
    return ExternalService(
        name=name,
        host=host,
        ports=tuple(ports),
        resolution=_get(raw, "resolution", "DNS", lambda v: r.string(v, f"{ep}.resolution", choices=RESOLUTIONS)),
        tls_origination=origination,
        load_balancer=_get(raw, "loadBalancer", None, lambda v: _load_balancer(r, v, f"{ep}.loadBalancer")),
        egress_gateway_port=gateway_port,
    )


# --------------------------------------------------------------------------- sources


class SecretValue(str):
    """A secret config value as the settings see it: only the mark that it is set as
    a Pulumi secret (offline the ciphertext cannot be decrypted; in a real run the
    program reads the value itself as a secret Output)."""


SECRET_SHOWN = "[secret]"
"""How a secret value is shown wherever a value would be."""


def read_stack_file(path: str) -> dict[str, Any]:
    """The project keys of a `Pulumi.<stack>.yaml` file, prefix stripped.

    Raises ConfigError (one line) for unreadable or malformed files."""
    try:
        with open(path, encoding="utf-8") as handle:
            document = yaml.safe_load(handle)
    except FileNotFoundError:
        raise ConfigError(file=path, path="", message="no such stack file") from None
    except OSError as error:
        raise ConfigError(file=path, path="", message=f"cannot read ({error.strerror})") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(file=path, path=where, message=f"invalid YAML ({problem})") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(file=path, path="", value=document, message="expected a mapping with a config: key")
    unknown = [k for k in document if k not in ("config", "encryptionsalt", "secretsprovider",
                                                 "encryptedkey", "environment")]
    if unknown:
        raise ConfigError(file=path, path=str(unknown[0]),
                          message="unknown top-level key; a stack file holds config:")
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError(file=path, path="config", value=config, message="expected a mapping")
    project: dict[str, Any] = {}
    for key, value in config.items():
        key = str(key)
        namespace, _, name = key.rpartition(":")
        if not namespace:
            namespace, name = PROJECT, key
        if namespace != PROJECT:
            continue  # provider settings such as kubernetes:context belong to the provider
        project[name] = _reveal_placeholders(value)
    return project


def _reveal_placeholders(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return SecretValue(SECRET_SHOWN)
        return {k: _reveal_placeholders(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_reveal_placeholders(v) for v in value]
    return value


def from_engine_config(config: Mapping[str, str], secret_keys: Collection[str] = ()) -> dict[str, Any]:
    """Project keys from the config the Pulumi engine hands the program: every value
    is a string, structured ones JSON-encoded. `secret_keys`: the full keys the engine
    marks secret; a secret key's plaintext never enters the result (the program reads
    it as a secret Output), only the mark that it is set as a secret."""
    project: dict[str, Any] = {}
    for key, text in config.items():
        namespace, _, name = key.rpartition(":")
        if namespace != PROJECT:
            continue
        if name in SECRET_KEYS and key in secret_keys:
            project[name] = SecretValue(SECRET_SHOWN)
            continue
        try:
            project[name] = json.loads(text)
        except (TypeError, ValueError):
            project[name] = text
    return project


def load_stack_file(path: str, *, stack: str) -> Settings:
    return parse_settings(read_stack_file(path), stack=stack, source=path)
