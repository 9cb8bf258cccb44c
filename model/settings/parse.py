"""`parse_settings`: one stack's config into `Settings`, refusing bad input with
one line naming the file, the key path, the value and what is allowed.
Istio, application, stores, rollout and secrets are parsed here; services and
their routes in `parse_services`, ingress, security and egress in `parse_edges`."""
from __future__ import annotations

import re
from typing import Any, Mapping


from model.apps import APPLICATIONS, Application
from model.errors import ConfigError
from model.settings.environments import DEFAULT_ENVIRONMENT, ENVIRONMENTS, Environment
from model.settings.parse_edges import _SECURITY_KEYS, _parse_egress, _parse_ingress, _parse_security
from model.settings.parse_layers import parse_layers
from model.settings.parse_services import _parse_services
from model.settings.reader import Cursor
from model.gates import parse_analysis
from model.rollout_plan import parse_started_from
from model.settings.types import AppSettings, IstioSettings, RolloutSettings, SecretValue, Settings, StoreSettings
from model.names import PROJECT
from model.vocabulary import DEFAULT_ISTIO_VERSION, ISTIO_CHART_REPOSITORY, OUTBOUND_POLICIES, SERVICE_TYPES, DNS_LABEL_RE as _DNS_LABEL_RE, IMAGE_TAG_RE as _IMAGE_TAG_RE, VERSION_RE as _VERSION_RE
from model.settings.reader import _QUANTITY_RE
from model.settings.validators import RESERVED_NAMESPACES


# Config keys whose values are Pulumi secrets. The parser only checks that the ones
# the application needs are there; the program reads them at its config edge as
# secret Outputs, so no plaintext ever enters Settings (or an error message).
SECRET_KEYS = ("databasePassword",)

TOP_LEVEL_KEYS = ("environment", "istio", "app", "services", "ingress", "security", "egress",
                  "stores", "rollout", "layers", "stackRefs", *SECRET_KEYS)


def parse_settings(config: Mapping[str, Any], *, stack: str, source: str,
                   unset_secrets_allowed: bool = False) -> Settings:
    """Validate one stack's project config (keys without the `bookinfo-mesh:` prefix).
    `unset_secrets_allowed`: an offline render, which shows a secret the file does not
    hold yet as not set (`Settings.secrets_not_set`) instead of stopping."""
    root = Cursor.root(config, source=source, path=f"{PROJECT}:")
    for key in config:
        if key not in TOP_LEVEL_KEYS:
            raise root.reader.unknown_key(root[key].path, key, TOP_LEVEL_KEYS)

    env_name = root.get("environment", DEFAULT_ENVIRONMENT, lambda c: c.string(choices=tuple(ENVIRONMENTS)))
    env = ENVIRONMENTS[env_name]
    istio = _parse_istio(root["istio"].mapping(_ISTIO_KEYS), env)
    app = _parse_app(root["app"].mapping(_APP_KEYS), env)
    services = _parse_services(root["services"].mapping(), app)
    ingress = _parse_ingress(root["ingress"].mapping(("hosts", "observability", "tls")), istio)
    security = _parse_security(root["security"].mapping(_SECURITY_KEYS), env)
    egress = _parse_egress(root.reader, root["egress"].mapping(("externalServices",)).raw,
                           istio, app, services, root.path)
    stores = _parse_stores(root["stores"].mapping(), app.application, env)
    layers = parse_layers(root)
    # Only the layer that writes the Secrets needs their values.
    not_set = _check_secrets(root, app.application, stack, required=layers.holds("app"))
    if not_set and not unset_secrets_allowed:
        raise secret_not_set(not_set[0], stack=stack, source=source)
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
        rollout=_parse_rollout(root["rollout"].mapping(("maxStep", "guardPreviews", "analysis", "startedFrom"))),
        layers=layers,
        secrets_not_set=not_set,
    )


def _parse_rollout(rollout: Cursor) -> RolloutSettings:
    def step(at: Cursor) -> float:
        value = at.raw
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 100:
            raise at.fail("expected percentage points above 0 and at most 100", value)
        return float(value)

    return RolloutSettings(
        max_step=rollout.get("maxStep", None, step),
        guard_previews=rollout.get("guardPreviews", False, Cursor.boolean),
        analysis=parse_analysis(rollout.raw.get("analysis"), rollout["analysis"].path, rollout.reader.source),
        started_from=parse_started_from(rollout.raw.get("startedFrom"), rollout["startedFrom"].path,
                                        rollout.reader.source),
    )


_ISTIO_KEYS = (
    "install", "version", "chartRepository", "revision", "accessLog", "outboundTrafficPolicy",
    "istiod", "ingressGateway", "egressGateway", "protectCrds", "addons",
)


def _parse_istio(istio: Cursor, env: Environment) -> IstioSettings:
    istiod = istio["istiod"].mapping(("replicas", "resources"))
    ingress = istio["ingressGateway"].mapping(("serviceType",))
    egress = istio["egressGateway"].mapping(("enabled",))
    addons = istio["addons"].mapping(("kiali", "prometheus"))
    return IstioSettings(
        install=istio.get("install", True, Cursor.boolean),
        version=istio.get("version", DEFAULT_ISTIO_VERSION,
                          lambda c: c.string(pattern=_VERSION_RE, what="an Istio version like 1.30.3")),
        chart_repository=istio.get("chartRepository", ISTIO_CHART_REPOSITORY,
                                   lambda c: c.string(pattern=re.compile(r"^(https?|oci)://\S+$"),
                                                      what="a chart repository URL")),
        revision=istio.get("revision", "", _revision),
        access_log=istio.get("accessLog", env.access_log, Cursor.boolean),
        outbound_traffic_policy=istio.get("outboundTrafficPolicy", env.outbound_traffic_policy,
                                          lambda c: c.string(choices=OUTBOUND_POLICIES)),
        istiod_replicas=istiod.get("replicas", env.istiod_replicas, lambda c: c.integer(minimum=1, maximum=10)),
        istiod_resources=istiod.get("resources", None, Cursor.resources),
        ingress_service_type=ingress.get("serviceType", env.ingress_service_type,
                                         lambda c: c.string(choices=SERVICE_TYPES)),
        egress_gateway=egress.get("enabled", False, Cursor.boolean),
        protect_crds=istio.get("protectCrds", env.protect_crds, Cursor.boolean),
        kiali=addons.get("kiali", env.addons, Cursor.boolean),
        prometheus=addons.get("prometheus", env.addons, Cursor.boolean),
    )


def _revision(at: Cursor) -> str:
    if at.raw in ("", "default"):
        return ""
    return at.string(pattern=_DNS_LABEL_RE,
                     what="a revision name (lowercase letters, digits and '-'), or '' for the default")


_APP_KEYS = ("name", "namespace", "replicas", "image", "restrictedPods", "resources", "tracing")


def _parse_app(app: Cursor, env: Environment) -> AppSettings:
    name = app.get("name", "bookinfo", lambda c: c.string(choices=tuple(APPLICATIONS)))
    application = APPLICATIONS[name]
    image = app["image"].mapping(("registry", "tag"))
    return AppSettings(
        application=application,
        namespace=app.get("namespace", application.default_namespace, lambda c: _app_namespace(c, application)),
        image_registry=image.get("registry", application.image_registry,
                                 lambda c: c.string(pattern=re.compile(r"^[a-z0-9][-a-z0-9._:/]*[a-z0-9]$"),
                                                    what="an image registry like registry.istio.io/release")),
        image_tag=image.get("tag", application.image_tag,
                            lambda c: c.text(pattern=_IMAGE_TAG_RE, what="an image tag")),
        replicas=app.get("replicas", env.replicas, lambda c: c.integer(minimum=0, maximum=100)),
        restricted_pods=app.get("restrictedPods", env.restricted_pods, Cursor.boolean),
        resources=app.get("resources", None, Cursor.resources),
        default_resources=env.resources,
        tracing_endpoint=app["tracing"].mapping(("endpoint",)).get(
            "endpoint", None, lambda c: c.string(pattern=re.compile(r"^https?://\S+$"), what="an http(s) URL")),
    )


def _app_namespace(at: Cursor, application: Application) -> str:
    """Labelled for sidecar injection and owned by this stack: never Istio's or
    Kubernetes' own namespace, nor the one the application keeps outside the mesh."""
    namespace = at.string(pattern=_DNS_LABEL_RE, what="a namespace name (a DNS-1123 label of at most 63 characters)")
    outside = sorted({s.namespace for s in application.services if s.namespace})
    if namespace in RESERVED_NAMESPACES or namespace in outside:
        owner = "the application's namespace outside the mesh" if namespace in outside else "a system namespace"
        raise at.fail(f"{owner}; choose a namespace of the application's own", namespace)
    return namespace


_STORAGE_CLASS_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


def _parse_stores(stores: Cursor, app: Application, env: Environment) -> dict[str, StoreSettings]:
    known = tuple(s.name for s in app.stores)
    for name in stores.keys():
        if name not in known:
            raise stores[name].fail(f"no such store in {app.name}; allowed: {', '.join(known) or 'none'}")
    parsed = {}
    for store in app.stores:
        config = stores[store.name].mapping(("size", "storageClass", "protect"))
        parsed[store.name] = StoreSettings(
            name=store.name,
            storage_size=config.get("size", store.storage_size,
                                    lambda c: c.string(pattern=_QUANTITY_RE, what="a quantity like 5Gi")),
            storage_class=config.get("storageClass", None,
                                     lambda c: c.string(pattern=_STORAGE_CLASS_RE, what="a StorageClass name")),
            # The posture that protects Istio's CRDs protects the data too.
            protect=config.get("protect", env.protect_crds, Cursor.boolean),
        )
    return parsed


def _check_secrets(root: Cursor, app: Application, stack: str, *, required: bool = True) -> tuple[str, ...]:
    """The secrets the application needs that are not set. Any that is set must be
    set as a Pulumi secret: a plaintext value would sit readable in the stack file
    and in the state. The value is never echoed."""
    needed = {secret.config_key for secret in app.secrets} if required else set()
    not_set = []
    for key in SECRET_KEYS:
        value = root.raw.get(key)
        if value is not None and not isinstance(value, SecretValue):
            set_with = f"set it with `pulumi config set --secret {key} <value> --stack {stack}`"
            raise root[key].fail(f"holds plaintext; a password must be a Pulumi secret: {set_with}")
        if value is None and key in needed:
            not_set.append(key)
    return tuple(not_set)


def secret_not_set(key: str, *, stack: str, source: str) -> ConfigError:
    """The one line for a secret the stack needs and its file does not hold: the
    error that stops `pulumi preview`/`up`, and the warning of an offline render."""
    return ConfigError(file=source, path=f"{PROJECT}:{key}",
                       message=f"not set; set it with pulumi config set --secret {key} <value> --stack {stack}")
