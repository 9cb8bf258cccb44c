"""Every example stack in examples/istio-tasks renders, field for field, the Istio
objects of the upstream file or istio.io task it names.

Expectations are written out here from Istio 1.30.3's samples/bookinfo/networking
files and the task pages, with the project's documented differences: every object
carries its namespace (bookinfo), the ingress Gateway listens on 80 (the Helm
gateway chart's port, not upstream's 8080), DestinationRules list only the
deployed subsets, and ServiceEntries spell out Istio's default
`location: MESH_EXTERNAL`."""
from __future__ import annotations

import pytest

from tests.conftest import EXAMPLES, render_file

NS = "bookinfo"
NETWORKING = "networking.istio.io/v1"
SECURITY = "security.istio.io/v1"
EGRESS_GATEWAY = "istio-egressgateway.istio-system.svc.cluster.local"


def istio(kind: str, name: str, spec: dict, api: str = NETWORKING) -> dict:
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": NS}, "spec": spec}


def subsets(*versions: str) -> list[dict]:
    return [{"name": v, "labels": {"version": v}} for v in versions]


def to(host: str, subset: str, weight: int | None = None) -> dict:
    body: dict = {"destination": {"host": host, "subset": subset}}
    if weight is not None:
        body["weight"] = weight
    return body


JASON = [{"headers": {"end-user": {"exact": "jason"}}}]

# virtual-service-all-v1.yaml + destination-rule-all.yaml (deployed subsets) +
# bookinfo-gateway.yaml: what every example starts from.
ALL_V1 = {
    ("Gateway", "bookinfo-gateway"): istio("Gateway", "bookinfo-gateway", {
        "selector": {"istio": "ingressgateway"},
        "servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}],
    }),
    ("VirtualService", "bookinfo"): istio("VirtualService", "bookinfo", {
        "hosts": ["*"],
        "gateways": ["bookinfo-gateway"],
        "http": [{
            "match": [
                {"uri": {"exact": "/productpage"}},
                {"uri": {"prefix": "/static"}},
                {"uri": {"exact": "/login"}},
                {"uri": {"exact": "/logout"}},
                {"uri": {"prefix": "/api/v1/products"}},
            ],
            "route": [{"destination": {"host": "productpage", "port": {"number": 9080}}}],
        }],
    }),
    ("DestinationRule", "productpage"): istio("DestinationRule", "productpage",
                                              {"host": "productpage", "subsets": subsets("v1")}),
    ("DestinationRule", "reviews"): istio("DestinationRule", "reviews",
                                          {"host": "reviews", "subsets": subsets("v1", "v2", "v3")}),
    ("DestinationRule", "ratings"): istio("DestinationRule", "ratings",
                                          {"host": "ratings", "subsets": subsets("v1")}),
    ("DestinationRule", "details"): istio("DestinationRule", "details",
                                          {"host": "details", "subsets": subsets("v1")}),
    ("VirtualService", "productpage"): istio("VirtualService", "productpage",
                                             {"hosts": ["productpage"], "http": [{"route": [to("productpage", "v1")]}]}),
    ("VirtualService", "reviews"): istio("VirtualService", "reviews",
                                         {"hosts": ["reviews"], "http": [{"route": [to("reviews", "v1")]}]}),
    ("VirtualService", "ratings"): istio("VirtualService", "ratings",
                                         {"hosts": ["ratings"], "http": [{"route": [to("ratings", "v1")]}]}),
    ("VirtualService", "details"): istio("VirtualService", "details",
                                         {"hosts": ["details"], "http": [{"route": [to("details", "v1")]}]}),
}


def reviews_vs(*http: dict) -> dict:
    return {("VirtualService", "reviews"): istio("VirtualService", "reviews",
                                                 {"hosts": ["reviews"], "http": list(http)})}


def ratings_vs(*http: dict) -> dict:
    return {("VirtualService", "ratings"): istio("VirtualService", "ratings",
                                                 {"hosts": ["ratings"], "http": list(http)})}


def mutual_dr(host: str, *versions: str) -> dict:
    return {("DestinationRule", host): istio("DestinationRule", host, {
        "host": host, "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}, "subsets": subsets(*versions)})}


def viewer(service: str, caller: str | None) -> dict:
    rule: dict = {"to": [{"operation": {"methods": ["GET"]}}]}
    if caller is not None:
        rule = {"from": [{"source": {"principals": [f"cluster.local/ns/bookinfo/sa/bookinfo-{caller}"]}}], **rule}
    return {("AuthorizationPolicy", f"{service}-viewer"): istio("AuthorizationPolicy", f"{service}-viewer", {
        "selector": {"matchLabels": {"app": service}}, "action": "ALLOW", "rules": [rule]}, api=SECURITY)}


# Per example: the objects that differ from ALL_V1 (added or replaced).
CHANGES: dict[str, dict] = {
    "all-v1": {},
    # virtual-service-reviews-test-v2.yaml
    "reviews-test-v2": reviews_vs({"match": JASON, "route": [to("reviews", "v2")]},
                                  {"route": [to("reviews", "v1")]}),
    # virtual-service-reviews-jason-v2-v3.yaml
    "reviews-jason-v2-v3": reviews_vs({"match": JASON, "route": [to("reviews", "v2")]},
                                      {"route": [to("reviews", "v3")]}),
    # virtual-service-reviews-50-v3.yaml
    "reviews-50-v3": reviews_vs({"route": [to("reviews", "v1", 50), to("reviews", "v3", 50)]}),
    # virtual-service-reviews-80-20.yaml
    "reviews-80-20": reviews_vs({"route": [to("reviews", "v1", 80), to("reviews", "v2", 20)]}),
    # virtual-service-reviews-90-10.yaml
    "reviews-90-10": reviews_vs({"route": [to("reviews", "v1", 90), to("reviews", "v2", 10)]}),
    # virtual-service-reviews-v2-v3.yaml
    "reviews-v2-v3": reviews_vs({"route": [to("reviews", "v2", 50), to("reviews", "v3", 50)]}),
    # virtual-service-reviews-v3.yaml
    "reviews-v3": reviews_vs({"route": [to("reviews", "v3")]}),
    # virtual-service-ratings-test-delay.yaml
    "ratings-test-delay": ratings_vs(
        {"match": JASON, "fault": {"delay": {"percentage": {"value": 100.0}, "fixedDelay": "7s"}},
         "route": [to("ratings", "v1")]},
        {"route": [to("ratings", "v1")]},
    ),
    # virtual-service-ratings-test-abort.yaml
    "ratings-test-abort": ratings_vs(
        {"match": JASON, "fault": {"abort": {"percentage": {"value": 100.0}, "httpStatus": 500}},
         "route": [to("ratings", "v1")]},
        {"route": [to("ratings", "v1")]},
    ),
    # Request timeouts task
    "request-timeouts": {
        **reviews_vs({"route": [to("reviews", "v2")], "timeout": "0.5s"}),
        **ratings_vs({"fault": {"delay": {"percentage": {"value": 100}, "fixedDelay": "2s"}},
                      "route": [to("ratings", "v1")]}),
    },
    # Retries task
    "retries": ratings_vs({"route": [to("ratings", "v1")], "retries": {"attempts": 3, "perTryTimeout": "2s"}}),
    # Circuit breaking task, on reviews
    "circuit-breaking": {("DestinationRule", "reviews"): istio("DestinationRule", "reviews", {
        "host": "reviews",
        "trafficPolicy": {
            "connectionPool": {"tcp": {"maxConnections": 1},
                               "http": {"http1MaxPendingRequests": 1, "maxRequestsPerConnection": 1}},
            "outlierDetection": {"consecutive5xxErrors": 1, "interval": "1s", "baseEjectionTime": "3m",
                                 "maxEjectionPercent": 100},
        },
        "subsets": subsets("v1", "v2", "v3"),
    })},
    # Mirroring task, on reviews
    "mirroring": reviews_vs({"route": [to("reviews", "v1", 100)],
                             "mirror": {"host": "reviews", "subset": "v2"},
                             "mirrorPercentage": {"value": 100.0}}),
    # Mutual TLS migration task + destination-rule-all-mtls.yaml (deployed subsets)
    "mtls-strict": {
        ("PeerAuthentication", "default"): istio("PeerAuthentication", "default",
                                                 {"mtls": {"mode": "STRICT"}}, api=SECURITY),
        **mutual_dr("productpage", "v1"),
        **mutual_dr("reviews", "v1", "v2", "v3"),
        **mutual_dr("ratings", "v1"),
        **mutual_dr("details", "v1"),
    },
    # Authorization for HTTP traffic task
    "authz-http": {
        ("AuthorizationPolicy", "allow-nothing"): istio("AuthorizationPolicy", "allow-nothing", {}, api=SECURITY),
        **viewer("productpage", None),
        **viewer("details", "productpage"),
        **viewer("reviews", "productpage"),
        **viewer("ratings", "reviews"),
    },
    # bookinfo-details-v2.yaml + egress-rule-google-apis.yaml + virtual-service-details-v2.yaml
    "egress-google-apis": {
        ("DestinationRule", "details"): istio("DestinationRule", "details",
                                              {"host": "details", "subsets": subsets("v1", "v2")}),
        ("VirtualService", "details"): istio("VirtualService", "details",
                                             {"hosts": ["details"], "http": [{"route": [to("details", "v2")]}]}),
        ("ServiceEntry", "googleapis"): istio("ServiceEntry", "googleapis", {
            "hosts": ["www.googleapis.com"],
            "location": "MESH_EXTERNAL",
            "ports": [{"number": 80, "name": "http", "protocol": "HTTP"},
                      {"number": 443, "name": "https", "protocol": "HTTPS"}],
            "resolution": "DNS",
        }),
        ("VirtualService", "rewrite-port-for-googleapis"): istio("VirtualService", "rewrite-port-for-googleapis", {
            "hosts": ["www.googleapis.com"],
            "http": [{"match": [{"port": 80}],
                      "route": [{"destination": {"host": "www.googleapis.com", "port": {"number": 443}}}]}],
        }),
        ("DestinationRule", "originate-tls-for-googleapis"): istio(
            "DestinationRule", "originate-tls-for-googleapis", {
                "host": "www.googleapis.com",
                "trafficPolicy": {"loadBalancer": {"simple": "ROUND_ROBIN"},
                                  "portLevelSettings": [{"port": {"number": 443}, "tls": {"mode": "SIMPLE"}}]},
            }),
    },
    # Egress gateway task (HTTP), edition.cnn.com
    "egress-gateway": {
        ("ServiceEntry", "cnn"): istio("ServiceEntry", "cnn", {
            "hosts": ["edition.cnn.com"],
            "location": "MESH_EXTERNAL",
            "ports": [{"number": 80, "name": "http-port", "protocol": "HTTP"},
                      {"number": 443, "name": "https", "protocol": "HTTPS"}],
            "resolution": "DNS",
        }),
        ("Gateway", "istio-egressgateway"): istio("Gateway", "istio-egressgateway", {
            "selector": {"istio": "egressgateway"},
            "servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["edition.cnn.com"]}],
        }),
        ("DestinationRule", "egressgateway-for-cnn"): istio("DestinationRule", "egressgateway-for-cnn", {
            "host": EGRESS_GATEWAY, "subsets": [{"name": "cnn"}]}),
        ("VirtualService", "direct-cnn-through-egress-gateway"): istio(
            "VirtualService", "direct-cnn-through-egress-gateway", {
                "hosts": ["edition.cnn.com"],
                "gateways": ["istio-egressgateway", "mesh"],
                "http": [
                    {"match": [{"gateways": ["mesh"], "port": 80}],
                     "route": [{"destination": {"host": EGRESS_GATEWAY, "subset": "cnn", "port": {"number": 80}},
                                "weight": 100}]},
                    {"match": [{"gateways": ["istio-egressgateway"], "port": 80}],
                     "route": [{"destination": {"host": "edition.cnn.com", "port": {"number": 80}},
                                "weight": 100}]},
                ],
            }),
    },
    # Secure gateways task, on Bookinfo
    "ingress-tls": {
        ("Gateway", "bookinfo-gateway"): istio("Gateway", "bookinfo-gateway", {
            "selector": {"istio": "ingressgateway"},
            "servers": [
                {"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["bookinfo.example.com"],
                 "tls": {"httpsRedirect": True}},
                {"port": {"number": 443, "name": "https", "protocol": "HTTPS"}, "hosts": ["bookinfo.example.com"],
                 "tls": {"mode": "SIMPLE", "credentialName": "bookinfo-credential"}},
            ],
        }),
        ("VirtualService", "bookinfo"): istio("VirtualService", "bookinfo", {
            **ALL_V1[("VirtualService", "bookinfo")]["spec"], "hosts": ["bookinfo.example.com"]}),
    },
}

TASK_FILES = sorted(p.stem for p in (EXAMPLES / "istio-tasks").glob("*.yaml"))


def istio_objects(name: str) -> dict[tuple[str, str], dict]:
    rendered = render_file(EXAMPLES / "istio-tasks" / f"{name}.yaml")
    found = {}
    for obj in rendered.objects():
        if obj["apiVersion"].split("/")[0].endswith(".istio.io"):
            key = (obj["kind"], obj["metadata"]["name"])
            assert key not in found, f"{name}: two {key}"
            found[key] = {k: obj[k] for k in ("apiVersion", "kind", "metadata", "spec")}
    return found


def test_every_example_file_has_expectations_and_there_are_nineteen():
    assert TASK_FILES == sorted(CHANGES)
    assert len(TASK_FILES) == 19


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_example_renders_exactly_the_istio_objects_of_its_task(name):
    expected = {**ALL_V1, **CHANGES[name]}
    rendered = istio_objects(name)
    assert sorted(rendered) == sorted(expected)
    for key, body in expected.items():
        assert rendered[key] == body, f"{name}: {key}"


def test_the_egress_gateway_example_installs_the_egress_gateway_and_blocks_unknown_hosts():
    rendered = render_file(EXAMPLES / "istio-tasks" / "egress-gateway.yaml")
    releases = {r.inputs["name"]: r.inputs for r in rendered.releases()}
    assert releases["istio-egressgateway"]["chart"] == "gateway"
    assert releases["istio-egressgateway"]["namespace"] == "istio-system"
    assert releases["istio-egressgateway"]["values"]["service"]["type"] == "ClusterIP"
    assert releases["istiod"]["values"]["meshConfig"]["outboundTrafficPolicy"] == {"mode": "REGISTRY_ONLY"}


def test_examples_differ_from_all_v1_only_in_workloads_their_task_deploys():
    def workloads(name: str) -> set:
        rendered = render_file(EXAMPLES / "istio-tasks" / f"{name}.yaml")
        return {(o["kind"], o["metadata"]["name"]) for o in rendered.objects() if "istio.io" not in o["apiVersion"]}

    base = workloads("all-v1")
    for name in CHANGES:
        extra = {("Deployment", "details-v2")} if name == "egress-google-apis" else set()
        assert workloads(name) == base | extra, name
