"""BookManagementSystem as data and the builders' reading of it, without Pulumi:
the definition, the ConfigMaps and Deployments built from it, its stores, and the
egress builder."""
from __future__ import annotations

import pytest

from model.apps import APPLICATIONS, BMS, BOOKINFO
from model.errors import ConfigError
from model.egress import egress_gateway, egress_gateway_route, egress_gateway_server
from model.mesh import EGRESS_GATEWAY_HOST, EGRESS_GATEWAY_LABELS
from model.stores import store_objects
from model.workloads import application_objects, deployment_name
from model.settings import SECRET_SHOWN, SecretValue, parse_settings
from tests.conftest import settings_from

PASSWORD = {"databasePassword": SecretValue(SECRET_SHOWN)}  # as after `pulumi config set --secret`


def bms_settings(**config):
    base = {"app": {"name": "bms"}, "istio": {"egressGateway": {"enabled": True}}, **PASSWORD}
    base.update(config)
    return settings_from(base)


def by_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def container_of(workload: dict) -> dict:
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    return container


def test_both_applications_are_listed_by_the_name_stack_config_uses():
    assert APPLICATIONS == {"bookinfo": BOOKINFO, "bms": BMS}
    assert bms_settings().app.application is BMS
    assert settings_from({}).app.application is BOOKINFO


def test_bms_has_four_spring_services_on_8080_with_payment_outside_the_mesh():
    assert BMS.service_names == ("bookinfo-core", "bookinfo-rating", "bookinfo-order", "bookinfo-payment")
    assert {s.port for s in BMS.services} == {8080}
    payment = BMS.service("bookinfo-payment")
    assert (payment.namespace, payment.external, payment.routed) == ("bookinfo-ext", True, False)
    assert all(s.namespace is None and not s.external for s in BMS.services if s is not payment)


def test_rating_has_two_versions_with_their_own_images_and_databases():
    rating = BMS.service("bookinfo-rating")
    assert rating.version_names == ("v1", "v2")
    assert [v.image for v in rating.versions] == ["bookinfo-rating-v1", "bookinfo-rating-v2"]
    urls = [dict(v.spring.config)["SPRING_DATASOURCE_URL"] for v in rating.versions]
    assert urls == ["jdbc:postgresql://bookinfo-db:5432/bookrating",
                    "jdbc:postgresql://bookinfo-db:5432/bookratingv2"]


def test_deployments_are_named_service_dash_version_for_every_service():
    objects = application_objects(bms_settings())
    assert set(by_kind(objects, "Deployment")) == {
        "bookinfo-core-v1", "bookinfo-rating-v1", "bookinfo-rating-v2", "bookinfo-order-v1", "bookinfo-payment-v1",
    }
    assert deployment_name("bookinfo-rating", "v2") == "bookinfo-rating-v2"


def test_images_come_from_the_tmaxcloudck_repositories_with_the_configured_tag():
    objects = application_objects(bms_settings(app={"name": "bms", "image": {"tag": "1.4.2"}}))
    images = {name: container_of(d)["image"] for name, d in by_kind(objects, "Deployment").items()}
    assert images == {
        "bookinfo-core-v1": "tmaxcloudck/bookinfo-core:1.4.2",
        "bookinfo-rating-v1": "tmaxcloudck/bookinfo-rating-v1:1.4.2",
        "bookinfo-rating-v2": "tmaxcloudck/bookinfo-rating-v2:1.4.2",
        "bookinfo-order-v1": "tmaxcloudck/bookinfo-order:1.4.2",
        "bookinfo-payment-v1": "tmaxcloudck/bookinfo-payment:1.4.2",
    }


def test_every_app_container_is_ready_on_actuator_health_and_has_requests_and_limits():
    for name, workload in by_kind(application_objects(bms_settings()), "Deployment").items():
        container = container_of(workload)
        assert container["readinessProbe"]["httpGet"] == {"path": "/actuator/health", "port": 8080}, name
        assert set(container["resources"]) == {"requests", "limits"}, name
        assert set(container["resources"]["limits"]) == {"cpu", "memory"}, name


def test_every_app_container_reads_its_config_from_its_own_configmaps():
    objects = application_objects(bms_settings())
    config_maps = by_kind(objects, "ConfigMap")
    for name, workload in by_kind(objects, "Deployment").items():
        container = container_of(workload)
        volumes = {v["name"]: v for v in workload["spec"]["template"]["spec"]["volumes"]}
        assert volumes["properties"]["configMap"]["name"] == f"{name}-properties"
        assert "application.properties" in config_maps[f"{name}-properties"]["data"]
        if name != "bookinfo-payment-v1":
            assert container["envFrom"] == [{"configMapRef": {"name": f"{name}-env"}}]
            assert config_maps[f"{name}-env"]["metadata"]["namespace"] == workload["metadata"]["namespace"]


def test_core_is_configured_with_its_database_kafka_consumer_group_and_rating_upstream():
    config_maps = by_kind(application_objects(bms_settings()), "ConfigMap")
    env = config_maps["bookinfo-core-v1-env"]["data"]
    properties = config_maps["bookinfo-core-v1-properties"]["data"]["application.properties"]
    assert env["SPRING_DATASOURCE_URL"] == "jdbc:postgresql://bookinfo-db:5432/bookcore"
    assert env["SPRING_KAFKA_BOOTSTRAP_SERVERS"] == "bookinfo-kafka:9092"
    assert "spring.kafka.consumer.group-id=book\n" in properties
    assert "upstream.rating=http://bookinfo-rating:8080\n" in properties


def test_order_is_configured_with_its_database_and_the_payment_upstream():
    config_maps = by_kind(application_objects(bms_settings()), "ConfigMap")
    assert config_maps["bookinfo-order-v1-env"]["data"]["SPRING_DATASOURCE_URL"] == \
        "jdbc:postgresql://bookinfo-db:5432/bookorder"
    properties = config_maps["bookinfo-order-v1-properties"]["data"]["application.properties"]
    assert "upstream.payment=http://bookinfo-payment.bookinfo-ext:8080\n" in properties


def test_the_tracing_endpoint_reaches_the_env_configmaps_only_when_configured():
    endpoint = "http://jaeger-collector.istio-system:14268/api/traces"
    traced = by_kind(application_objects(
        bms_settings(app={"name": "bms", "tracing": {"endpoint": endpoint}})), "ConfigMap")
    untraced = by_kind(application_objects(bms_settings()), "ConfigMap")
    assert traced["bookinfo-core-v1-env"]["data"]["OPENTRACING_JAEGER_HTTP_SENDER_URL"] == endpoint
    assert not any("OPENTRACING_JAEGER_HTTP_SENDER_URL" in cm["data"] for cm in untraced.values())


def test_a_config_change_changes_the_pod_template_so_the_pods_roll():
    endpoint = "http://jaeger-collector.istio-system:14268/api/traces"
    before = by_kind(application_objects(bms_settings()), "Deployment")["bookinfo-core-v1"]
    after = by_kind(application_objects(
        bms_settings(app={"name": "bms", "tracing": {"endpoint": endpoint}})), "Deployment")["bookinfo-core-v1"]
    assert before["spec"]["template"]["metadata"]["annotations"] != \
        after["spec"]["template"]["metadata"]["annotations"]


def test_the_payment_namespace_is_not_injected_and_the_application_namespace_is():
    namespaces = by_kind(application_objects(bms_settings()), "Namespace")
    assert namespaces["bookinfo"]["metadata"]["labels"] == {"istio-injection": "enabled"}
    assert "labels" not in namespaces["bookinfo-ext"]["metadata"]
    payment = by_kind(application_objects(bms_settings()), "Deployment")["bookinfo-payment-v1"]
    assert payment["metadata"]["namespace"] == "bookinfo-ext"


def test_the_database_init_script_creates_every_database_a_deployed_version_uses():
    settings = bms_settings()
    objects = application_objects(settings) + store_objects(settings, {"databasePassword": "x"})
    used = {cm["data"]["SPRING_DATASOURCE_URL"].rsplit("/", 1)[1]
            for cm in by_kind(objects, "ConfigMap").values() if "SPRING_DATASOURCE_URL" in cm["data"]}
    script = by_kind(objects, "ConfigMap")["bookinfo-db-init"]["data"]["10-databases.sql"]
    assert used == {"bookcore", "bookrating", "bookratingv2", "bookorder"}
    for database in used:
        assert f"CREATE DATABASE {database} " in script


def test_postgres_mounts_the_init_script_where_the_official_image_runs_it():
    settings = bms_settings()
    db = by_kind(store_objects(settings, {"databasePassword": "x"}), "StatefulSet")["bookinfo-db"]
    container = container_of(db)
    assert container["image"].startswith("postgres:") and container["image"] != "postgres:latest"
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["init"] == "/docker-entrypoint-initdb.d"
    assert db["spec"]["template"]["spec"]["volumes"] == [{"name": "init", "configMap": {"name": "bookinfo-db-init"}}]
    assert container["readinessProbe"]["exec"]["command"][0] == "pg_isready"
    assert container["livenessProbe"]["exec"]["command"][0] == "pg_isready"


def test_kafka_is_one_kraft_node_with_a_headless_and_a_client_service():
    objects = store_objects(bms_settings(), {"databasePassword": "x"})
    kafka = by_kind(objects, "StatefulSet")["bookinfo-kafka"]
    env = {e["name"]: e.get("value") for e in container_of(kafka)["env"]}
    assert container_of(kafka)["image"].startswith("apache/kafka:3.")
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_ADVERTISED_LISTENERS"] == "PLAINTEXT://bookinfo-kafka:9092"
    services = by_kind(objects, "Service")
    assert kafka["spec"]["serviceName"] == "bookinfo-kafka-headless"
    assert services["bookinfo-kafka-headless"]["spec"]["clusterIP"] == "None"
    assert services["bookinfo-kafka"]["spec"]["ports"] == [{"port": 9092, "name": "tcp-kafka"}]
    assert services["bookinfo-db"]["spec"]["clusterIP"] == "None"
    assert services["bookinfo-db"]["spec"]["ports"] == [{"port": 5432, "name": "tcp-postgres"}]


def test_stores_run_as_their_images_non_root_users():
    for name, store in by_kind(store_objects(bms_settings(), {"databasePassword": "x"}), "StatefulSet").items():
        pod = store["spec"]["template"]["spec"]["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] > 0, name
        assert container_of(store)["securityContext"]["allowPrivilegeEscalation"] is False, name


def test_egress_builder_sends_mesh_requests_to_the_egress_gateway_and_from_there_out():
    gw = egress_gateway([egress_gateway_server(["pay.example.com"], "HTTP")], "shop")
    dr, vs = egress_gateway_route(host="pay.example.com", port=8080, protocol="HTTP",
                                  namespace="shop", name="external-pay")
    assert (gw["kind"], dr["kind"], vs["kind"]) == ("Gateway", "DestinationRule", "VirtualService")
    assert {o["metadata"]["namespace"] for o in (gw, dr, vs)} == {"shop"}
    assert gw["spec"]["selector"] == EGRESS_GATEWAY_LABELS
    assert dr["spec"] == {"host": EGRESS_GATEWAY_HOST, "subsets": [{"name": "external-pay"}]}
    assert vs["spec"]["gateways"] == [gw["metadata"]["name"], "mesh"]
    first, second = vs["spec"]["http"]
    assert first["match"] == [{"gateways": ["mesh"], "port": 8080}]
    assert first["route"][0]["destination"] == {"host": EGRESS_GATEWAY_HOST, "subset": "external-pay",
                                                "port": {"number": 80}}
    assert second["match"] == [{"gateways": [gw["metadata"]["name"]], "port": 80}]
    assert second["route"][0]["destination"] == {"host": "pay.example.com", "port": {"number": 8080}}


def test_bms_without_the_egress_gateway_is_refused_with_the_key_to_set():
    with pytest.raises(ConfigError, match=r"istio\.egressGateway\.enabled.*bookinfo-payment"):
        settings_from({"app": {"name": "bms"}, **PASSWORD})


@pytest.mark.parametrize("entry, field, value", [
    ({"name": "external-payment", "host": "api.example.com"}, "name", '"external-payment"'),
    ({"host": "bookinfo-payment.bookinfo-ext.svc.cluster.local"}, "host",
     '"bookinfo-payment.bookinfo-ext.svc.cluster.local"'),
])
def test_a_listed_external_host_may_not_take_the_name_or_host_of_payment(entry, field, value):
    listed = {**entry, "ports": [{"number": 443, "protocol": "HTTPS"}]}
    with pytest.raises(ConfigError) as caught:
        bms_settings(egress={"externalServices": [listed]})
    assert str(caught.value) == (f"Pulumi.test.yaml: bookinfo-mesh:egress.externalServices[0].{field} = {value}: "
                                 "bms already uses it for its external service bookinfo-payment")


def test_bms_settings_hold_payment_as_one_more_external_host():
    (payment,) = bms_settings().egress.services
    assert (payment.name, payment.host, payment.egress_gateway_port.number) == (
        "external-payment", "bookinfo-payment.bookinfo-ext.svc.cluster.local", 8080)


def test_bms_without_a_database_password_is_refused_with_the_command_that_sets_it():
    with pytest.raises(ConfigError) as caught:
        settings_from({"app": {"name": "bms"}, "istio": {"egressGateway": {"enabled": True}}})
    assert str(caught.value) == ("Pulumi.test.yaml: bookinfo-mesh:databasePassword: not set; set it with "
                                 "pulumi config set --secret databasePassword <value> --stack test")


def test_an_offline_parse_lets_the_password_be_missing_and_says_so():
    config = {"app": {"name": "bms"}, "istio": {"egressGateway": {"enabled": True}}}
    offline = parse_settings(config, stack="test", source="Pulumi.test.yaml", unset_secrets_allowed=True)
    assert offline.secrets_not_set == ("databasePassword",)
    assert bms_settings().secrets_not_set == ()
    # A traffic-only stack writes no Secret, so it needs no password.
    traffic = parse_settings({**config, "layers": ["traffic"], "stackRefs": {"mesh": "o/p/m", "app": "o/p/a"}},
                             stack="test", source="Pulumi.test.yaml", unset_secrets_allowed=True)
    assert traffic.secrets_not_set == ()


@pytest.mark.parametrize("allowed", [False, True])
def test_a_plaintext_password_is_refused_offline_too(allowed):
    with pytest.raises(ConfigError, match=r"databasePassword: holds plaintext; "):
        parse_settings({"app": {"name": "bms"}, "istio": {"egressGateway": {"enabled": True}},
                        "databasePassword": "hunter2"}, stack="test", source="Pulumi.test.yaml",
                       unset_secrets_allowed=allowed)


@pytest.mark.parametrize("app", ["bms", "bookinfo"])
def test_a_plaintext_database_password_is_refused_without_echoing_it(app):
    with pytest.raises(ConfigError, match=r"databasePassword: holds plaintext; .*--secret") as error:
        settings_from({"app": {"name": app}, "istio": {"egressGateway": {"enabled": True}},
                       "databasePassword": "hunter2"})
    assert "hunter2" not in str(error.value)


def test_store_settings_name_only_stores_the_application_has():
    with pytest.raises(ConfigError, match=r"stores\.mongodb.*allowed: bookinfo-db, bookinfo-kafka"):
        bms_settings(stores={"mongodb": {"size": "1Gi"}})
    with pytest.raises(ConfigError, match=r"stores\.bookinfo-db\.size"):
        bms_settings(stores={"bookinfo-db": {"size": "lots"}})


def test_bookinfo_stacks_need_no_password_and_get_no_stores():
    settings = settings_from({})
    assert settings.stores == {}
    assert store_objects(settings, {}) == []


def test_no_telemetry_addon_is_exposed_unless_a_host_is_named():
    from model.observability import observability_objects

    assert observability_objects(bms_settings()) == []


def test_a_named_observability_host_gets_a_gateway_and_a_route_to_the_addon():
    from model.mesh import INGRESS_GATEWAY_LABELS
    from model.observability import observability_objects

    settings = bms_settings(istio={"egressGateway": {"enabled": True}, "addons": {"kiali": True}},
                            ingress={"observability": {"kiali": "kiali.example.com"}})
    gateway, route = observability_objects(settings)
    assert gateway["spec"]["selector"] == INGRESS_GATEWAY_LABELS
    assert gateway["spec"]["servers"][0]["hosts"] == ["kiali.example.com"]
    assert route["spec"]["gateways"] == ["kiali-gateway"]
    assert route["spec"]["http"][0]["route"][0]["destination"] == {
        "host": "kiali.istio-system.svc.cluster.local", "port": {"number": 20001}}


def test_exposing_kiali_without_installing_it_is_refused():
    with pytest.raises(ConfigError, match=r"observability\.kiali.*istio\.addons\.kiali"):
        bms_settings(istio={"egressGateway": {"enabled": True}, "addons": {"kiali": False}},
                     ingress={"observability": {"kiali": "kiali.example.com"}})


@pytest.mark.parametrize("field", ["image", "ports", "env", "volumeMounts"])
def test_container_extras_may_not_override_what_the_builder_writes(field):
    from model.apps import Store, Version

    with pytest.raises(ValueError, match=f"container_extras may not set {field}"):
        Version(name="v1", image="x", container_extras={field: "anything"})
    with pytest.raises(ValueError, match=f"container_extras may not set {field}"):
        Store(name="db", image="x:1", port=1, port_name="tcp-x", data_path="/d", user=1, storage_size="1Gi",
              container_extras={field: "anything"})


def test_an_application_s_calls_are_the_callers_it_names_and_the_upstreams_its_versions_call():
    """`*` (anyone may call) names no caller; BookManagementSystem's services admit
    anyone, so its calls are the hosts of its versions' upstream URLs."""
    assert BOOKINFO.calls() == (("productpage", "details"), ("productpage", "reviews"), ("reviews", "ratings"),
                                ("ratings", "mongodb"))
    assert BMS.calls() == (("bookinfo-core", "bookinfo-rating"), ("bookinfo-order", "bookinfo-payment"))
