"""`parse_settings`: one stack's config into `Settings`, refusing bad input with
one line naming the file, the key path, the value and what is allowed.
Istio, application, stores, rollout and secrets are parsed here; services and
their routes in `parse_services`, ingress, security and egress in `parse_edges`."""
from __future__ import annotations

import re
from typing import Any, Mapping


from model.apps import APPLICATIONS, Application
from model.settings.environments import DEFAULT_ENVIRONMENT, ENVIRONMENTS, Environment
from model.settings.parse_edges import _SECURITY_KEYS, _parse_egress, _parse_ingress, _parse_security
from model.settings.parse_services import _parse_services
from model.settings.reader import _Reader, _get
from model.settings.types import AppSettings, IstioSettings, RolloutSettings, Settings, StoreSettings
from model.settings.vocabulary import DEFAULT_ISTIO_VERSION, ISTIO_CHART_REPOSITORY, OUTBOUND_POLICIES, PROJECT, SERVICE_TYPES, _DNS_LABEL_RE, _IMAGE_TAG_RE, _VERSION_RE
from model.settings.reader import _QUANTITY_RE, _resources


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
    _check_secrets(r, config, app.application, p)
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
        rollout=_parse_rollout(r, r.mapping(config.get("rollout"), f"{p}rollout", ("maxStep", "guardPreviews")),
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


def _check_secrets(r: _Reader, config: Mapping[str, Any], app: Application, p: str) -> None:
    """Every secret the application needs is set. The value is never echoed."""
    for needed in app.secrets:
        value = config.get(needed.config_key)
        if value is None or value == "":
            raise r.fail(f"{p}{needed.config_key}",
                         f"required by {app.name}; set it with "
                         f"`pulumi config set --secret {needed.config_key} <value>`")
