"""BookManagementSystem as data: Spring Boot services on 8080 backed by PostgreSQL
and Kafka, one of them (payment) outside the mesh in a namespace of its own."""
from __future__ import annotations

from typing import Mapping
from urllib.parse import urlsplit

from model.apps.types import Application, IngressRoute, SecretKey, Service, SpringBoot, Store, Version
from model.names import service_of

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


# Each Spring version's PostgreSQL database, by (service, version). PostgreSQL
# creates them once, when it initialises an empty volume (scripts in its init
# directory run then and only then).
DATABASES: Mapping[tuple[str, str], str] = {
    ("bookinfo-core", "v1"): "bookcore",
    ("bookinfo-rating", "v1"): "bookrating",
    ("bookinfo-rating", "v2"): "bookratingv2",
    ("bookinfo-order", "v1"): "bookorder",
}
KAFKA = "bookinfo-kafka"
DATABASE = "bookinfo-db"

# Every service's readiness is Spring Boot's actuator health, and every JVM gets
# the same modest envelope; the limit leaves headroom above the heap.
SPRING_CONTAINER = {
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


def spring(service: str, version: str, image: str, *, upstreams: tuple[tuple[str, str], ...] = ()) -> Version:
    """One Spring Boot version: where its dependencies are (env ConfigMap), how it
    behaves (application.properties ConfigMap), its password from the Secret."""
    config: list[tuple[str, str]] = []
    properties: list[tuple[str, str]] = [("spring.application.name", service)]
    secret_env: tuple[tuple[str, SecretKey], ...] = ()
    database = DATABASES.get((service, version))
    if database is not None:
        config += [
            ("SPRING_DATASOURCE_URL", f"jdbc:postgresql://{DATABASE}:5432/{database}"),
            ("SPRING_DATASOURCE_USERNAME", BMS_DATABASE_USER),
            ("SPRING_KAFKA_BOOTSTRAP_SERVERS", f"{KAFKA}:9092"),
        ]
        properties += [
            ("spring.jpa.properties.hibernate.dialect", "org.hibernate.dialect.PostgreSQLDialect"),
            ("spring.kafka.consumer.group-id", "book"),
            ("spring.kafka.consumer.auto-offset-reset", "earliest"),
        ]
        secret_env = (("SPRING_DATASOURCE_PASSWORD", BMS_DATABASE_PASSWORD),)
    properties += list(upstreams)
    stores = (DATABASE, KAFKA) if database is not None else ()
    return Version(
        # A service is called at the host of its upstream URL: `bookinfo-rating` or
        # `bookinfo-payment.<namespace>`.
        calls=tuple(service_of(urlsplit(url).hostname) for _, url in upstreams),
        stores=stores,
        name=version,
        image=image,
        secret_env=secret_env,
        container_extras=SPRING_CONTAINER,
        spring=SpringBoot(config=tuple(config), properties=tuple(properties),
                          tracing_env="OPENTRACING_JAEGER_HTTP_SENDER_URL"),
    )


SERVICES = (
    Service(
        name="bookinfo-core",
        port=BMS_PORT,
        account="bookinfo-core",
        default_versions=("v1",),
        versions=(
            spring("bookinfo-core", "v1", "bookinfo-core",
                   upstreams=(("upstream.rating", f"http://bookinfo-rating:{BMS_PORT}"),)),
        ),
    ),
    Service(
        name="bookinfo-rating",
        port=BMS_PORT,
        account="bookinfo-rating",
        default_versions=("v1", "v2"),
        versions=(
            spring("bookinfo-rating", "v1", "bookinfo-rating-v1"),
            spring("bookinfo-rating", "v2", "bookinfo-rating-v2"),
        ),
    ),
    Service(
        name="bookinfo-order",
        port=BMS_PORT,
        account="bookinfo-order",
        default_versions=("v1",),
        versions=(
            spring("bookinfo-order", "v1", "bookinfo-order",
                   upstreams=(("upstream.payment", f"http://bookinfo-payment.{BMS_PAYMENT_NAMESPACE}:{BMS_PORT}"),)),
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

INIT_SQL = "".join(f"CREATE DATABASE {db} OWNER {BMS_DATABASE_USER};\n"
                   for db in sorted(set(DATABASES.values())))
POSTGRES = Store(
    name=DATABASE,
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
    init_files=(("10-databases.sql", INIT_SQL),),
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
KAFKA_STORE = Store(
    name=KAFKA,
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
        ("KAFKA_ADVERTISED_LISTENERS", f"PLAINTEXT://{KAFKA}:9092"),
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


def bms() -> Application:
    return Application(
        name="bms",
        default_namespace="bookinfo",
        image_registry="tmaxcloudck",
        image_tag="latest",
        services=SERVICES,
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
        stores=(POSTGRES, KAFKA_STORE),
        secrets=(BMS_DATABASE_PASSWORD,),
    )
