"""Applications as data.

An application is a set of services; a service has a port and one or more
versions; a version is one Deployment. The builders turn these into Kubernetes
objects and the routing builders into Istio objects, so a second application is a
second definition, not a second code path.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

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
    """Further container fields in Kubernetes spelling (probes, resources, envFrom)."""
    requires: tuple[str, ...] = ()
    """Backing services this version needs deployed with it (e.g. ratings v2 → mongodb)."""
    config: tuple[tuple[str, str], ...] = ()
    """Environment served from a ConfigMap `<deployment>-env` (envFrom), not inline."""
    properties: tuple[tuple[str, str], ...] = ()
    """application.properties entries, served from a ConfigMap `<deployment>-properties`
    mounted as a directory at `properties_dir`."""
    properties_dir: str = "/app/config"
    secret_env: tuple[tuple[str, SecretKey], ...] = ()
    """Environment variables read from a Kubernetes Secret (secretKeyRef), never inline."""
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
        for candidate in self.versions:
            if candidate.name == name:
                return candidate
        raise KeyError(name)

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
    """Further container fields in Kubernetes spelling (probes, resources)."""
    client_service: bool = False
    """Also expose a ClusterIP Service `<name>`; the headless one is then `<name>-headless`."""

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
        for candidate in self.services:
            if candidate.name == name:
                return candidate
        raise KeyError(name)

    @property
    def service_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.services)


def _bookinfo() -> Application:
    tmp = ScratchVolume(name="tmp", mount_path="/tmp")
    wlp_output = ScratchVolume(name="wlp-output", mount_path="/opt/ibm/wlp/output")

    def reviews(version: str) -> Version:
        return Version(
            name=version,
            image=f"examples-bookinfo-reviews-{version}",
            env=(("LOG_DIR", "/tmp/logs"),),
            mounts=(tmp, wlp_output),
            volume_order=("wlp-output", "tmp"),
        )

    return Application(
        name="bookinfo",
        default_namespace="bookinfo",
        image_registry="registry.istio.io/release",
        image_tag="1.20.3",
        services=(
            Service(
                name="details",
                port=9080,
                account="bookinfo-details",
                default_versions=("v1",),
                versions=(
                    Version(name="v1", image="examples-bookinfo-details-v1"),
                    # Upstream's details-v2 manifest omits serviceAccountName; here it
                    # runs as bookinfo-details so authorization by principal covers it.
                    Version(
                        name="v2",
                        image="examples-bookinfo-details-v2",
                        env=(("DO_NOT_ENCRYPT", "true"),),
                    ),
                ),
            ),
            Service(
                name="ratings",
                port=9080,
                account="bookinfo-ratings",
                default_versions=("v1",),
                versions=(
                    Version(name="v1", image="examples-bookinfo-ratings-v1"),
                    # Keeps upstream's own account: ratings v2 alone talks to MongoDB,
                    # so with least-privilege authorization MongoDB admits exactly
                    # bookinfo-ratings-v2 and ratings v1 gets no path to the database.
                    Version(
                        name="v2",
                        image="examples-bookinfo-ratings-v2",
                        env=(("MONGO_DB_URL", "mongodb://mongodb:27017/test"),),
                        service_account="bookinfo-ratings-v2",
                        requires=("mongodb",),
                    ),
                ),
            ),
            Service(
                name="reviews",
                port=9080,
                account="bookinfo-reviews",
                default_versions=("v1", "v2", "v3"),
                versions=(reviews("v1"), reviews("v2"), reviews("v3")),
            ),
            Service(
                name="productpage",
                port=9080,
                account="bookinfo-productpage",
                default_versions=("v1",),
                versions=(
                    Version(
                        name="v1",
                        image="examples-bookinfo-productpage-v1",
                        mounts=(tmp,),
                        annotations=(
                            ("prometheus.io/scrape", "true"),
                            ("prometheus.io/port", "9080"),
                            ("prometheus.io/path", "/metrics"),
                        ),
                    ),
                ),
            ),
            Service(
                name="mongodb",
                port=27017,
                port_name="mongo",
                routed=False,
                backing=True,
                default_versions=(),
                versions=(
                    Version(
                        name="v1",
                        image="examples-bookinfo-mongodb",
                        args=("--ipv6", "--bind_ip_all"),
                        mounts=(ScratchVolume(name="data-db", mount_path="/data/db"),),
                        service_account=None,
                    ),
                ),
            ),
        ),
        ingress_routes=(
            IngressRoute(
                uris=(
                    ("exact", "/productpage"),
                    ("prefix", "/static"),
                    ("exact", "/login"),
                    ("exact", "/logout"),
                    ("prefix", "/api/v1/products"),
                ),
                service="productpage",
            ),
        ),
        callers={
            "productpage": ("*",),
            "details": ("productpage",),
            "reviews": ("productpage",),
            "ratings": ("reviews",),
            # Only the caller versions that require a backing store are admitted to it.
            "mongodb": ("ratings",),
        },
    )


# BookManagementSystem: Spring Boot services on 8080 backed by PostgreSQL and Kafka.
# Names a client uses (bookinfo-db, bookinfo-kafka, bookinfo-rating) are short
# Service names, resolved in the application namespace where all of them run.
BMS_PORT = 8080
BMS_DATABASE_USER = "bookinfo"
BMS_DATABASE_PASSWORD = SecretKey(config_key="databasePassword", secret="bookinfo-db", key="password")
BMS_PAYMENT_NAMESPACE = "bookinfo-ext"
# Pinned images of the stores: a data store is upgraded on purpose, never by a tag
# moving underneath it.
POSTGRES_IMAGE = "postgres:17.6"
KAFKA_IMAGE = "apache/kafka:3.9.1"
# A KRaft cluster is identified by a fixed id written into its storage at format
# time; a changing id would refuse the existing volume.
KAFKA_CLUSTER_ID = "Ym9va2luZm8ta2Fma2EtMQ"


def _bms() -> Application:
    # Every service's readiness is Spring Boot's actuator health, and every JVM gets
    # the same modest envelope; the limit leaves headroom above the heap.
    spring_container = {
        "readinessProbe": {
            "httpGet": {"path": "/actuator/health", "port": BMS_PORT},
            "initialDelaySeconds": 20,
            "periodSeconds": 10,
            "failureThreshold": 6,
        },
        "resources": {
            "requests": {"cpu": "100m", "memory": "384Mi"},
            "limits": {"cpu": "1", "memory": "768Mi"},
        },
    }
    kafka = "bookinfo-kafka"
    database = "bookinfo-db"

    def spring(service: str, version: str, image: str, *, db: str | None = None,
               upstreams: tuple[tuple[str, str], ...] = ()) -> Version:
        """One Spring Boot version: where its dependencies are (env ConfigMap), how it
        behaves (application.properties ConfigMap), its password from the Secret."""
        config: list[tuple[str, str]] = []
        properties: list[tuple[str, str]] = [("spring.application.name", service)]
        secret_env: tuple[tuple[str, SecretKey], ...] = ()
        if db is not None:
            config += [
                ("SPRING_DATASOURCE_URL", f"jdbc:postgresql://{database}:5432/{db}"),
                ("SPRING_DATASOURCE_USERNAME", BMS_DATABASE_USER),
                ("SPRING_KAFKA_BOOTSTRAP_SERVERS", f"{kafka}:9092"),
            ]
            properties += [
                ("spring.jpa.properties.hibernate.dialect", "org.hibernate.dialect.PostgreSQLDialect"),
                ("spring.kafka.consumer.group-id", "book"),
                ("spring.kafka.consumer.auto-offset-reset", "earliest"),
            ]
            secret_env = (("SPRING_DATASOURCE_PASSWORD", BMS_DATABASE_PASSWORD),)
        properties += list(upstreams)
        return Version(
            name=version,
            image=image,
            config=tuple(config),
            properties=tuple(properties),
            secret_env=secret_env,
            tracing_env="OPENTRACING_JAEGER_HTTP_SENDER_URL",
            container_extras=spring_container,
        )

    services = (
        Service(
            name="bookinfo-core",
            port=BMS_PORT,
            account="bookinfo-core",
            default_versions=("v1",),
            versions=(
                spring("bookinfo-core", "v1", "bookinfo-core", db="bookcore",
                       upstreams=(("upstream.rating", f"http://bookinfo-rating:{BMS_PORT}"),)),
            ),
        ),
        Service(
            name="bookinfo-rating",
            port=BMS_PORT,
            account="bookinfo-rating",
            default_versions=("v1", "v2"),
            versions=(
                spring("bookinfo-rating", "v1", "bookinfo-rating-v1", db="bookrating"),
                spring("bookinfo-rating", "v2", "bookinfo-rating-v2", db="bookratingv2"),
            ),
        ),
        Service(
            name="bookinfo-order",
            port=BMS_PORT,
            account="bookinfo-order",
            default_versions=("v1",),
            versions=(
                spring("bookinfo-order", "v1", "bookinfo-order", db="bookorder",
                       upstreams=(("upstream.payment",
                                   f"http://bookinfo-payment.{BMS_PAYMENT_NAMESPACE}:{BMS_PORT}"),)),
            ),
        ),
        Service(
            name="bookinfo-payment",
            port=BMS_PORT,
            account="bookinfo-payment",
            namespace=BMS_PAYMENT_NAMESPACE,
            external=True,
            routed=False,
            default_versions=("v1",),
            versions=(spring("bookinfo-payment", "v1", "bookinfo-payment"),),
        ),
    )
    # Each database a deployed version names in its datasource, created once when
    # PostgreSQL initialises an empty volume (scripts in the init directory run then
    # and only then).
    databases = sorted({
        url.rsplit("/", 1)[1]
        for svc in services for v in svc.versions for key, url in v.config
        if key == "SPRING_DATASOURCE_URL"
    })
    init_sql = "".join(f"CREATE DATABASE {db} OWNER {BMS_DATABASE_USER};\n" for db in databases)
    postgres = Store(
        name=database,
        image=POSTGRES_IMAGE,
        port=5432,
        port_name="tcp-postgres",
        data_path="/var/lib/postgresql/data",
        env=(
            ("POSTGRES_USER", BMS_DATABASE_USER),
            # A subdirectory: the volume's root may hold lost+found, which initdb refuses.
            ("PGDATA", "/var/lib/postgresql/data/pgdata"),
        ),
        secret_env=(("POSTGRES_PASSWORD", BMS_DATABASE_PASSWORD),),
        init_files=(("10-databases.sql", init_sql),),
        init_path="/docker-entrypoint-initdb.d",
        user=999,  # the image's postgres user
        storage_size="5Gi",
        container_extras={
            # Readiness over TCP: during first-start initialisation PostgreSQL listens on
            # its socket only, so the pod turns ready once the databases exist. Liveness
            # over the socket, so initialisation itself is not mistaken for a hang.
            "readinessProbe": {
                "exec": {"command": ["pg_isready", "-h", "127.0.0.1", "-p", "5432", "-U", BMS_DATABASE_USER]},
                "periodSeconds": 10,
                "failureThreshold": 6,
            },
            "livenessProbe": {
                "exec": {"command": ["pg_isready", "-U", BMS_DATABASE_USER]},
                "initialDelaySeconds": 30,
                "periodSeconds": 20,
                "failureThreshold": 6,
            },
            "resources": {
                "requests": {"cpu": "100m", "memory": "256Mi"},
                "limits": {"cpu": "1", "memory": "1Gi"},
            },
        },
    )
    # Kafka: one KRaft node acting as broker and controller, from the official
    # apache/kafka image, as a StatefulSet written out here rather than a Helm chart:
    # a chart is one opaque release to Pulumi (no diff of what it renders, nothing for
    # the checks to read) and the well-known ones bring ZooKeeper or operators this
    # demo does not need.
    kafka_store = Store(
        name=kafka,
        image=KAFKA_IMAGE,
        port=9092,
        port_name="tcp-kafka",
        data_path="/var/lib/kafka/data",
        env=(
            ("CLUSTER_ID", KAFKA_CLUSTER_ID),
            ("KAFKA_NODE_ID", "1"),
            ("KAFKA_PROCESS_ROLES", "broker,controller"),
            ("KAFKA_LISTENERS", "PLAINTEXT://:9092,CONTROLLER://:9093"),
            # Clients bootstrap through the client Service and are told to stay on it.
            ("KAFKA_ADVERTISED_LISTENERS", f"PLAINTEXT://{kafka}:9092"),
            ("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER"),
            ("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"),
            ("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:9093"),
            # One broker: internal topics cannot have more than one replica.
            ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1"),
            ("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1"),
            ("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1"),
            ("KAFKA_LOG_DIRS", "/var/lib/kafka/data/logs"),
        ),
        user=1000,  # the image's appuser
        storage_size="5Gi",
        client_service=True,
        container_extras={
            "readinessProbe": {"tcpSocket": {"port": 9092}, "periodSeconds": 10},
            "livenessProbe": {"tcpSocket": {"port": 9092}, "initialDelaySeconds": 60, "periodSeconds": 20},
            "resources": {
                "requests": {"cpu": "200m", "memory": "768Mi"},
                "limits": {"cpu": "1", "memory": "1536Mi"},
            },
        },
    )
    return Application(
        name="bms",
        default_namespace="bookinfo",
        image_registry="tmaxcloudck",
        image_tag="latest",
        services=services,
        ingress_routes=(
            IngressRoute(uris=(("prefix", "/api/books"),), service="bookinfo-core"),
            IngressRoute(uris=(("prefix", "/api/rating"),), service="bookinfo-rating", by_version=True),
            IngressRoute(uris=(("prefix", "/api/orders"),), service="bookinfo-order"),
        ),
        callers={
            "bookinfo-core": ("*",),
            # Called by core and, for /api/rating, straight from the ingress gateway.
            "bookinfo-rating": ("*",),
            "bookinfo-order": ("*",),
        },
        stores=(postgres, kafka_store),
        secrets=(BMS_DATABASE_PASSWORD,),
    )


BOOKINFO = _bookinfo()
BMS = _bms()

APPLICATIONS: Mapping[str, Application] = {BOOKINFO.name: BOOKINFO, BMS.name: BMS}
"""Every application the project can deploy, by the name stack config uses."""
