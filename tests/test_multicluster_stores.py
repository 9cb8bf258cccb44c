"""BookManagementSystem's stores over several clusters: each store (its StatefulSet,
volume claims, init ConfigMap, headless Service) in the one cluster `app.placement`
names, its client Service in every cluster, the password Secret where a pod reads
it; every client reaches a store through a ClusterIP Service of its own cluster, and
MC112 says so when one would not."""
from __future__ import annotations

import dataclasses

import pytest
import yaml

from meshplan.render.engine import run_program
from model.apps import APPLICATIONS
from model.apps.bms import DATABASE, KAFKA
from model.multicluster import check_traffic
from model.multicluster.placement import settings_in_cluster
from model.settings import parse_settings
from model.stack_analysis import analyze_stack
from model.stores import store_objects
from tests.conftest import with_secrets_set
from tests.corpus.cluster_cases import MULTI_PRIMARY, bms, stack

# The database in west, Kafka left to its default (east, the first primary); core
# only in east, so it reaches the database across networks.
PLACED = stack(MULTI_PRIMARY, extra=bms("{bookinfo-db: [west], bookinfo-core: {v1: [east]}}"))


def parsed(text: str):
    """(raw config, settings) of a stack text, its secret keys set."""
    raw = with_secrets_set({key.split(":", 1)[1]: value for key, value in yaml.safe_load(text)["config"].items()
                            if not (isinstance(value, dict) and "secure" in value)})
    return raw, parse_settings(raw, stack="example", source="Pulumi.example.yaml")


@pytest.fixture(scope="module")
def rendered():
    raw, settings = parsed(PLACED)
    return run_program(raw, settings=settings, stack="example", source="Pulumi.example.yaml",
                       provider_config={"strictMode": "true"})


def in_cluster(rendered, cluster: str) -> dict[tuple[str, str], dict]:
    """(kind, name) → body of the objects registered on that cluster's provider."""
    provider = next(p.urn for p in rendered.providers() if p.name == cluster)
    return {(r.inputs["kind"], r.inputs["metadata"]["name"]): r.inputs for r in rendered.resources
            if r.provider == f"{provider}::{cluster}-id" and "kind" in r.inputs and "metadata" in r.inputs}


def test_a_store_runs_in_its_cluster_only_and_its_client_service_everywhere(rendered):
    east, west = in_cluster(rendered, "east"), in_cluster(rendered, "west")
    for store, home, away in ((DATABASE, west, east), (KAFKA, east, west)):
        statefulset = home[("StatefulSet", store)]
        assert statefulset["spec"]["volumeClaimTemplates"]  # the claims come with the StatefulSet, there only
        assert statefulset["spec"]["serviceName"] == f"{store}-headless"
        assert home[("Service", f"{store}-headless")]["spec"]["clusterIP"] == "None"
        assert ("StatefulSet", store) not in away and ("Service", f"{store}-headless") not in away
        for cluster in (home, away):
            assert "clusterIP" not in cluster[("Service", store)]["spec"]  # a ClusterIP Service
    assert ("ConfigMap", f"{DATABASE}-init") in west and ("ConfigMap", f"{DATABASE}-init") not in east
    # PostgreSQL reads the password in west, core's datasource in east.
    assert ("Secret", "bookinfo-db") in west and ("Secret", "bookinfo-db") in east


def test_every_client_connects_through_a_clusterip_service_of_its_own_cluster(rendered):
    for cluster in ("east", "west"):
        objects = in_cluster(rendered, cluster)
        services = {name: body["spec"] for (kind, name), body in objects.items() if kind == "Service"}
        hosts = set()
        for (kind, name), body in objects.items():
            if kind == "ConfigMap" and name.endswith("-env"):
                data = body["data"]
                hosts.add(data["SPRING_DATASOURCE_URL"].split("//")[1].split(":")[0])
                hosts.add(data["SPRING_KAFKA_BOOTSTRAP_SERVERS"].split(":")[0])
        assert hosts == {DATABASE, KAFKA}, cluster
        for host in hosts:
            assert services[host].get("clusterIP") != "None", (cluster, host)
    # Kafka tells its clients to stay on the client Service, not a pod's own name,
    # which no other network can reach.
    kafka = in_cluster(rendered, "east")[("StatefulSet", KAFKA)]
    env = dict((e["name"], e.get("value")) for e in kafka["spec"]["template"]["spec"]["containers"][0]["env"])
    assert env["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{KAFKA}:9092"


def test_a_cluster_where_no_pod_reads_the_password_gets_no_secret():
    _, settings = parsed(stack(MULTI_PRIMARY, extra=bms(
        "{bookinfo-core: {v1: [east]}, bookinfo-rating: {v1: [east], v2: [east]}, bookinfo-order: {v1: [east]}}")))
    west = store_objects(settings_in_cluster(settings, "west"), {"databasePassword": "x"}, cluster="west")
    assert [(o["kind"], o["metadata"]["name"]) for o in west] == [("Service", DATABASE), ("Service", KAFKA)]
    east = store_objects(settings_in_cluster(settings, "east"), {"databasePassword": "x"}, cluster="east")
    assert ("Secret", "bookinfo-db") in [(o["kind"], o["metadata"]["name"]) for o in east]


def test_a_one_cluster_stack_keeps_its_headless_database_service():
    _, settings = parsed(stack(MULTI_PRIMARY, extra=bms("{}")))
    one_cluster = dataclasses.replace(settings, multicluster=None)
    services = {o["metadata"]["name"]: o["spec"] for o in store_objects(one_cluster, {"databasePassword": "x"})
                if o["kind"] == "Service"}
    assert services[DATABASE]["clusterIP"] == "None" and f"{DATABASE}-headless" not in services


def test_the_multicluster_checks_pass_with_the_stores_placed(rendered):
    found = [str(f) for f in analyze_stack(rendered.settings, rendered.objects(), []) if f.code.startswith("MC")]
    assert found == []


def test_mc112_a_store_reached_through_a_headless_name_from_another_cluster():
    _, settings = parsed(PLACED)
    mc = settings.multicluster
    consumed = check_traffic.consumed_services(mc, APPLICATIONS["bms"])
    assert {DATABASE, KAFKA} <= consumed["east"]  # core v1 runs in east
    one_cluster_shape = dataclasses.replace(settings, multicluster=None)
    headless_db = [o for o in store_objects(one_cluster_shape, {"databasePassword": "x"}) if o["kind"] == "Service"
                   and o["metadata"]["name"] == DATABASE]
    assert check_traffic.headless_without_pods(headless_db) == {DATABASE}
    defined = {c: {DATABASE, KAFKA} for c in ("east", "west")}
    assert [str(f) for f in check_traffic.mc112_services_defined(
        defined, consumed, dns_capture=False, headless_elsewhere={"east": {DATABASE}, "west": set()})] == [
        "[MC112] east: Service bookinfo-db: called here but headless and its pods run in another cluster: the name "
        "resolves to no address here; connect through a ClusterIP Service"]
    # With the StatefulSet's pods beside it, a headless name resolves.
    statefulset = next(o for o in store_objects(one_cluster_shape, {"databasePassword": "x"})
                       if o["kind"] == "StatefulSet" and o["metadata"]["name"] == DATABASE)
    assert check_traffic.headless_without_pods([*headless_db, statefulset]) == set()


def test_mc112_judges_the_services_each_cluster_gets(rendered, monkeypatch):
    """A builder drifting to a headless database name outside the database's cluster
    is caught from the objects, not from the settings they came from."""
    import model.multicluster.analysis as analysis

    def drifted(settings, values, *, cluster=None):
        objects = store_objects(settings, values, cluster=cluster)
        if any(o["kind"] == "StatefulSet" and o["metadata"]["name"] == DATABASE for o in objects):
            return objects
        return [{**o, "spec": {**o["spec"], "clusterIP": "None"}} if o["kind"] == "Service" and
                o["metadata"]["name"] == DATABASE else o for o in objects]
    monkeypatch.setattr(analysis, "store_objects", drifted)
    found = [str(f) for f in analyze_stack(rendered.settings, rendered.objects(), []) if f.code == "MC112"]
    assert found == ["warning [MC112] Cluster east: Service bookinfo-db: called here but headless and its pods run in "
                     "another cluster: the name resolves to no address here; connect through a ClusterIP Service"]


def test_mc107_counts_a_cluster_that_holds_only_a_store(monkeypatch):
    """Its clients are on other networks: without an east-west gateway on its network
    they cannot reach the store."""
    import model.multicluster.analysis as analysis

    north = "north: {role: primary, network: net-north, apiServer: 'https://10.2.0.10:6443', eastWest: {address: 35.9.9.9}}"
    versions = "bookinfo-core: {v1: [east]}, bookinfo-rating: {v1: [east], v2: [west]}, bookinfo-order: {v1: [west]}, " \
               "bookinfo-payment: {v1: [east]}"
    _, settings = parsed(stack(f"{MULTI_PRIMARY}\n{north}", extra=bms(f"{{bookinfo-db: [north], {versions}}}")))
    plans = analysis.cluster_plans(settings, settings.multicluster)
    without_gateway = [dataclasses.replace(p, releases=tuple(r for r in p.releases if r.key != "eastwest"))
                       if p.name == "north" else p for p in plans]
    found = [str(f) for f in analyze_stack(settings, [], []) if f.code == "MC107"]
    assert found == []
    monkeypatch.setattr(analysis, "cluster_plans", lambda *_: without_gateway)
    found = [str(f) for f in analyze_stack(settings, [], []) if f.code == "MC107"]
    assert found == ["error [MC107] Cluster net-north: network: workloads but no east-west gateway: no other network "
                     "reaches them"]


def test_the_render_says_which_cluster_holds_each_store(rendered):
    from meshplan.render.formats import summary
    header = summary(rendered).split("\n\n")[1].splitlines()
    assert header[-1] == "stores: bookinfo-db in west, bookinfo-kafka in east"
