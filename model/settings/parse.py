"""`parse_settings`: one stack's config into `Settings`, refusing bad input with
one line naming the file, the key path, the value and what is allowed.
Istio, application, stores and secrets are parsed here; services and their routes
in `parse_services` (traffic policies in `parse_traffic_policy`), ingress, security
and egress in `parse_edges`, layers in `parse_layers`, rollout in `parse_rollout`.
Each `parse_*` reads its own key from the root cursor."""
from __future__ import annotations

import re
from typing import Any, Mapping


from model.apps import APPLICATIONS, Application
from model.errors import ConfigError
from model.names import PROJECT
from model.settings.environments import DEFAULT_ENVIRONMENT, ENVIRONMENTS, Environment
from model.settings.parse_data_plane import (check_ambient_egress, check_clusters_traffic, check_data_plane,
                                             check_gateway_api_traffic, parse_gateway_api, parse_traffic_api,
                                             platform)
from model.settings.parse_edges import parse_egress, parse_ingress, parse_security
from model.settings.parse_clusters import CLUSTER_SECRET_PREFIXES, cluster_secret_keys, parse_clusters
from model.settings.parse_layers import parse_layers
from model.settings.parse_provider import check_strict_mode
from model.settings.parse_rollout import parse_rollout
from model.settings.parse_services import parse_services
from model.settings.reader import QUANTITY_RE, Cursor, Keys
from model.settings.types import AppSettings, IstioSettings, SecretValue, Settings, StoreSettings
from model.settings.validators import RESERVED_NAMESPACES
from model.vocabulary import (DATA_PLANES, DEFAULT_ISTIO_VERSION, DNS_LABEL_MAX, DNS_LABEL_RE, DNS_SUBDOMAIN_RE, IMAGE_TAG_RE,
                              ISTIO_CHART_REPOSITORY,
                              ISTIOD_SERVICE_PREFIX, OUTBOUND_POLICIES, REVISION_MAX, SERVICE_TYPES,
                              VERSION_RE)


# Config keys whose values are Pulumi secrets. The parser only checks that the ones
# the application needs are there; the program reads them at its config edge as
# secret Outputs, so no plaintext ever enters Settings (or an error message).
SECRET_KEYS = ("databasePassword",)

TOP_LEVEL_KEYS = Keys("", "environment", "istio", "app", "services", "ingress", "security", "egress",
                      "stores", "rollout", "layers", "stackRefs", "traffic", "gatewayApi", "mesh", "clusters",
                      *SECRET_KEYS)


def parse_settings(config: Mapping[str, Any], *, stack: str, source: str,
                   unset_secrets_allowed: bool = False, provider_config: Mapping[str, Any] | None = None) -> Settings:
    """Validate one stack's project config (keys without the `bookinfo-mesh:` prefix).
    `unset_secrets_allowed`: an offline render, which shows a secret the file does not
    hold yet as not set (`Settings.secrets_not_set`) instead of stopping.
    `provider_config`: the stack's `kubernetes:` keys, judged with the clusters
    (`parse_provider`); the program always passes them, a reader of the project
    keys alone (the policy pack, meshplan before it runs the program) does not."""
    named = cluster_secret_keys(config)
    # A cluster's secret key no cluster names is refused after the clusters are read:
    # a misspelt cluster name is the error to show, not the key that follows it.
    stray = [key for key in config if isinstance(key, str) and key.startswith(CLUSTER_SECRET_PREFIXES)
             and key not in named and key not in TOP_LEVEL_KEYS]
    root = Cursor.root(config, source=source, path=f"{PROJECT}:").mapping(
        TOP_LEVEL_KEYS.with_names(*named, *stray))
    env_name = root.get("environment", DEFAULT_ENVIRONMENT, lambda c: c.string(choices=tuple(ENVIRONMENTS)))
    env = ENVIRONMENTS[env_name]
    istio = parse_istio(root, env)
    app = parse_app(root, env)
    traffic_api = parse_traffic_api(root)
    check_data_plane(root, istio, traffic_api, app.application)
    services = parse_services(root, app)
    ingress = parse_ingress(root, istio)
    security = parse_security(root, env)
    check_ambient_egress(root, istio)
    egress = parse_egress(root, istio, app, services)
    stores = parse_stores(root, app.application, env)
    gateway_api = parse_gateway_api(root)
    check_gateway_api_traffic(root, traffic_api, gateway_api, services, ingress)
    layers = parse_layers(root)
    # Only the layer that writes the Secrets needs their values.
    not_set = _check_secrets(root, app.application, stack, required=layers.holds("app"))
    if not_set and not unset_secrets_allowed:
        raise secret_not_set(not_set[0], stack=stack, source=source)
    multicluster = parse_clusters(root, application=app.application, environment=env_name,
                                  data_plane=istio.data_plane, stack=stack, install=istio.install,
                                  unset_secrets_allowed=unset_secrets_allowed, holds=layers.holds)
    if stray:
        raise root.unknown_key(stray[0], TOP_LEVEL_KEYS.with_names(*named))
    check_clusters_traffic(root, traffic_api, multicluster is not None)
    if provider_config is not None:
        check_strict_mode(provider_config, multicluster, source=source)
    if multicluster is not None:
        not_set = (*not_set, *multicluster.secrets_not_set)
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
        rollout=parse_rollout(root),
        layers=layers,
        traffic_api=traffic_api,
        gateway_api=gateway_api,
        secrets_not_set=not_set,
        multicluster=multicluster,
    )


ISTIO_KEYS = Keys("istio", "install", "version", "chartRepository", "revision", "accessLog", "outboundTrafficPolicy",
                  "istiod", "ingressGateway", "egressGateway", "protectCrds", "addons", "dataPlane", "platform")
ISTIOD_KEYS = Keys("istio.istiod", "replicas", "resources")
INGRESS_GATEWAY_KEYS = Keys("istio.ingressGateway", "serviceType")
EGRESS_GATEWAY_KEYS = Keys("istio.egressGateway", "enabled")
ADDON_KEYS = Keys("istio.addons", "kiali", "prometheus")


def parse_istio(root: Cursor, env: Environment) -> IstioSettings:
    istio = root["istio"].mapping(ISTIO_KEYS)
    istiod = istio["istiod"].mapping(ISTIOD_KEYS)
    ingress = istio["ingressGateway"].mapping(INGRESS_GATEWAY_KEYS)
    egress = istio["egressGateway"].mapping(EGRESS_GATEWAY_KEYS)
    addons = istio["addons"].mapping(ADDON_KEYS)
    return IstioSettings(
        install=istio.get("install", True, Cursor.boolean),
        version=istio.get("version", DEFAULT_ISTIO_VERSION,
                          lambda c: c.string(pattern=VERSION_RE, what="an Istio version like 1.30.3")),
        chart_repository=istio.get("chartRepository", ISTIO_CHART_REPOSITORY,
                                   lambda c: c.string(pattern=re.compile(r"^(https?|oci)://\S+\Z"),
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
        data_plane=istio.get("dataPlane", "sidecar", lambda c: c.string(choices=DATA_PLANES)),
        platform=istio.get("platform", None, platform),
    )


def _revision(at: Cursor) -> str:
    if at.raw in ("", "default"):
        return ""
    revision = at.string(pattern=DNS_LABEL_RE,
                         what="a revision name (lowercase letters, digits and '-'), or '' for the default")
    if len(revision) > REVISION_MAX:
        # The istiod chart names its Service `istiod-<revision>`, a DNS-1035 label.
        raise at.fail(f"longer than {REVISION_MAX} characters ({len(revision)}); the istiod chart names its "
                      f"Service {ISTIOD_SERVICE_PREFIX}<revision>, at most {DNS_LABEL_MAX}", revision)
    return revision


APP_KEYS = Keys("app", "name", "namespace", "replicas", "image", "restrictedPods", "resources", "tracing",
                "placement")
IMAGE_KEYS = Keys("app.image", "registry", "tag")
TRACING_KEYS = Keys("app.tracing", "endpoint")


def parse_app(root: Cursor, env: Environment) -> AppSettings:
    app = root["app"].mapping(APP_KEYS)
    name = app.get("name", "bookinfo", lambda c: c.string(choices=tuple(APPLICATIONS)))
    application = APPLICATIONS[name]
    image = app["image"].mapping(IMAGE_KEYS)
    return AppSettings(
        application=application,
        namespace=app.get("namespace", application.default_namespace, lambda c: _app_namespace(c, application)),
        image_registry=image.get("registry", application.image_registry,
                                 lambda c: c.string(pattern=re.compile(r"^[a-z0-9][-a-z0-9._:/]*[a-z0-9]\Z"),
                                                    what="an image registry like registry.istio.io/release")),
        image_tag=image.get("tag", application.image_tag,
                            lambda c: c.text(pattern=IMAGE_TAG_RE, what="an image tag")),
        replicas=app.get("replicas", env.replicas, lambda c: c.integer(minimum=0, maximum=100)),
        restricted_pods=app.get("restrictedPods", env.restricted_pods, Cursor.boolean),
        resources=app.get("resources", None, Cursor.resources),
        default_resources=env.resources,
        tracing_endpoint=app["tracing"].mapping(TRACING_KEYS).get(
            "endpoint", None, lambda c: c.string(pattern=re.compile(r"^https?://\S+\Z"), what="an http(s) URL")),
    )


def _app_namespace(at: Cursor, application: Application) -> str:
    """Labelled for sidecar injection and owned by this stack: never Istio's or
    Kubernetes' own namespace, nor the one the application keeps outside the mesh."""
    namespace = at.string(pattern=DNS_LABEL_RE, what="a namespace name (a DNS-1123 label of at most 63 characters)")
    outside = sorted({s.namespace for s in application.services if s.namespace})
    if namespace in RESERVED_NAMESPACES or namespace in outside:
        owner = "the application's namespace outside the mesh" if namespace in outside else "a system namespace"
        raise at.fail(f"{owner}; choose a namespace of the application's own", namespace)
    return namespace


STORE_KEYS = Keys("stores.<store>", "size", "storageClass", "protect")


def parse_stores(root: Cursor, app: Application, env: Environment) -> dict[str, StoreSettings]:
    stores = root["stores"].mapping()
    known = tuple(s.name for s in app.stores)
    for name in stores.keys():
        if name not in known:
            raise stores[name].fail(f"no such store in {app.name}; allowed: {', '.join(known) or 'none'}")
    parsed = {}
    for store in app.stores:
        config = stores[store.name].mapping(STORE_KEYS)
        parsed[store.name] = StoreSettings(
            name=store.name,
            storage_size=config.get("size", store.storage_size,
                                    lambda c: c.string(pattern=QUANTITY_RE, what="a quantity like 5Gi")),
            storage_class=config.get("storageClass", None,
                                     lambda c: c.string(pattern=DNS_SUBDOMAIN_RE, what="a StorageClass name")),
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
