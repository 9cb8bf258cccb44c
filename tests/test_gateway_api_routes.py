"""How a gateway-api stack's traffic settings become HTTPRoutes and DestinationRules
(matches, timeouts, retries, mirrors, traffic policies, ingress hosts and TLS), the
ambient mode's waypoint and authorization policies, and the order of registration."""
from __future__ import annotations

import copy

import yaml

from model.gateway_api_routing import gateway_api_routing_objects
from model.security import security_objects
from model.waypoint import waypoint_needed
from tests.conftest import objects_of, render_file, render_stack, settings_from
from tests.upstream import upstream

NS = "bookinfo"
GATEWAY_API = {"traffic": {"api": "gateway-api"}}
AMBIENT = {"traffic": {"api": "gateway-api"}, "istio": {"dataPlane": "ambient"}}
EXPERIMENTAL = {"traffic": {"api": "gateway-api"}, "gatewayApi": {"channel": "experimental"}}


def built(config: dict) -> dict[tuple[str, str], dict]:
    objects = gateway_api_routing_objects(settings_from({"environment": "dev", **config}))
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def reviews_rules(reviews: dict, base: dict = GATEWAY_API) -> list[dict]:
    return built({**base, "services": {"reviews": reviews}})[("HTTPRoute", "reviews")]["spec"]["rules"]


def test_header_matches_come_first_exact_untyped_and_regex_typed():
    rules = reviews_rules({"routes": [
        {"match": {"headers": {"end-user": {"exact": "jason"}}}, "to": "v2"},
        {"match": [{"headers": {"end-user": {"regex": "^j.*"}}}, {"uri": {"prefix": "/api"}}], "to": "v3"}],
        "to": "v1"})
    assert rules == [
        {"matches": [{"headers": [{"name": "end-user", "value": "jason"}]}],
         "backendRefs": [{"name": "reviews-v2", "port": 9080}]},
        {"matches": [{"headers": [{"type": "RegularExpression", "name": "end-user", "value": "^j.*"}]},
                     {"path": {"type": "PathPrefix", "value": "/api"}}],
         "backendRefs": [{"name": "reviews-v3", "port": 9080}]},
        {"backendRefs": [{"name": "reviews-v1", "port": 9080}]}]


def test_timeout_retries_and_per_try_timeout_on_the_experimental_channel():
    [rule] = reviews_rules({"to": "v1", "timeout": "0.5s",
                            "retries": {"attempts": 3, "perTryTimeout": "250ms", "retryOn": "503,502"}},
                           EXPERIMENTAL)
    assert rule["timeouts"] == {"request": "500ms", "backendRequest": "250ms"}
    assert rule["retry"] == {"attempts": 3, "codes": [503, 502]}
    [rule] = reviews_rules({"to": "v1", "timeout": "1.5m"})
    assert rule["timeouts"] == {"request": "1m30s"} and "retry" not in rule


def test_mirror_is_a_request_mirror_filter_with_percent_or_fraction():
    [rule] = reviews_rules({"weights": {"v1": 100}, "mirror": {"version": "v2", "percentage": 50}})
    assert rule["filters"] == [{"type": "RequestMirror", "requestMirror": {
        "backendRef": {"name": "reviews-v2", "port": 9080}, "percent": 50}}]
    [rule] = reviews_rules({"weights": {"v1": 100}, "mirror": {"version": "v2", "percentage": 12.5}})
    assert rule["filters"][0]["requestMirror"]["fraction"] == {"numerator": 1, "denominator": 8}
    [rule] = reviews_rules({"weights": {"v1": 100}, "mirror": {"version": "v2"}})
    assert rule["filters"][0]["requestMirror"] == {"backendRef": {"name": "reviews-v2", "port": 9080}}


def test_several_weights_each_carry_theirs_even_zero():
    [rule] = reviews_rules({"weights": {"v1": 0, "v2": 100}})
    assert rule["backendRefs"] == [{"name": "reviews-v1", "port": 9080, "weight": 0},
                                   {"name": "reviews-v2", "port": 9080, "weight": 100}]


def test_traffic_policies_go_on_the_service_host_and_merged_on_each_version_host():
    pool = {"tcp": {"maxConnections": 1}}
    outlier = {"consecutive5xxErrors": 1}
    lb = {"simple": "LEAST_REQUEST"}  # as the parser spells the name given
    objects = built({**GATEWAY_API, "services": {"reviews": {
        "to": "v1", "trafficPolicy": {"connectionPool": pool, "outlierDetection": outlier, "loadBalancer": "LEAST_REQUEST"},
        "subsetTrafficPolicy": {"v2": {"connectionPool": {"tcp": {"maxConnections": 5}}}}}}})
    rules = {name: o["spec"] for (kind, name), o in objects.items() if kind == "DestinationRule"}
    service = {"loadBalancer": lb, "connectionPool": pool, "outlierDetection": outlier}
    assert rules == {
        "reviews": {"host": "reviews", "trafficPolicy": service},
        "reviews-v1": {"host": "reviews-v1", "trafficPolicy": service},
        "reviews-v2": {"host": "reviews-v2", "trafficPolicy": {**service,
                                                               "connectionPool": {"tcp": {"maxConnections": 5}}}},
        "reviews-v3": {"host": "reviews-v3", "trafficPolicy": service},
    }
    assert not [k for k in built(GATEWAY_API) if k[0] == "DestinationRule"]


def test_ingress_host_and_tls_become_listener_hostname_https_listener_and_a_redirect_route():
    objects = built({**GATEWAY_API, "ingress": {"hosts": ["bookinfo.example.com"],
                                                "tls": {"credentialName": "bookinfo-credential"}}})
    listeners = objects[("Gateway", "bookinfo-gateway")]["spec"]["listeners"]
    assert [(lst["name"], lst["port"], lst["protocol"], lst["hostname"]) for lst in listeners] == [
        ("http", 80, "HTTP", "bookinfo.example.com"), ("https", 443, "HTTPS", "bookinfo.example.com")]
    assert listeners[1]["tls"] == {"mode": "Terminate", "certificateRefs": [{"name": "bookinfo-credential"}]}
    route = objects[("HTTPRoute", "bookinfo")]["spec"]
    assert route["parentRefs"] == [{"name": "bookinfo-gateway", "sectionName": "https"}]
    assert route["hostnames"] == ["bookinfo.example.com"]
    redirect = objects[("HTTPRoute", "bookinfo-https-redirect")]["spec"]
    assert redirect["parentRefs"] == [{"name": "bookinfo-gateway", "sectionName": "http"}]
    assert redirect["rules"] == [{"filters": [{"type": "RequestRedirect",
                                               "requestRedirect": {"scheme": "https", "statusCode": 301}}]}]
    several = built({**GATEWAY_API, "ingress": {"hosts": ["a.example.com", "b.example.com"]}})
    assert "hostname" not in several[("Gateway", "bookinfo-gateway")]["spec"]["listeners"][0]
    assert several[("HTTPRoute", "bookinfo")]["spec"]["hostnames"] == ["a.example.com", "b.example.com"]


def test_the_tls_secret_lives_beside_the_gateway_that_reads_it():
    from model.security import ingress_tls_secret
    from model.settings import SecretValue
    tls = {"credentialName": "c", "certificate": SecretValue("x"), "privateKey": SecretValue("y")}
    secret = ingress_tls_secret(settings_from({"environment": "dev", **GATEWAY_API, "ingress": {"tls": tls}}))
    assert secret["metadata"]["namespace"] == NS


def test_ambient_l7_policies_attach_to_the_service_and_l4_ones_keep_the_selector():
    settings = settings_from({"environment": "prod", **AMBIENT, "services": {"reviews": {"versions": ["v3"], "to": "v3"}}})
    policies = {o["metadata"]["name"]: o["spec"] for o in security_objects(settings)}
    l7 = upstream_objects_l("productpage-viewer-l7.yaml")
    # Bookinfo's productpage admits anyone; getting-started's admits curl alone.
    del l7["rules"][0]["from"]
    assert policies["productpage-viewer"] == l7
    assert "selector" not in policies["reviews-viewer"] and policies["reviews-viewer"]["targetRefs"] == [
        {"kind": "Service", "group": "", "name": "reviews"}]
    l4 = upstream_objects_l("productpage-viewer-l4.yaml")
    waypoint = "cluster.local/ns/bookinfo/sa/waypoint"
    l4["rules"][0]["from"][0]["source"]["principals"] = [waypoint]
    l4["selector"]["matchLabels"]["app"] = "reviews"
    assert policies["reviews-ztunnel"] == l4
    assert policies["productpage-ztunnel"]["rules"] == [{}]
    sidecar = {o["metadata"]["name"]: o["spec"] for o in security_objects(
        settings_from({"environment": "prod", **GATEWAY_API}))}
    assert "targetRefs" not in sidecar["reviews-viewer"] and "reviews-ztunnel" not in sidecar


def upstream_objects_l(file: str) -> dict:
    text = upstream(f"istio-ambient/istio-io-docs/ambient-getting-started/{file}").read_text()
    return copy.deepcopy(yaml.safe_load(text)["spec"])


def test_a_waypoint_is_needed_exactly_for_an_l7_feature_in_ambient():
    import dataclasses
    ambient = settings_from({"environment": "dev", **AMBIENT})
    assert waypoint_needed(ambient)
    assert not waypoint_needed(settings_from({"environment": "dev", **GATEWAY_API}))
    nothing_l7 = dataclasses.replace(ambient, services={})
    assert not waypoint_needed(nothing_l7)
    policy_only = dataclasses.replace(ambient, services={"reviews": dataclasses.replace(
        ambient.services["reviews"], traffic_policy=ambient.services["reviews"].traffic_policy)})
    assert waypoint_needed(policy_only)  # reviews is a routed service: its HTTPRoute needs the waypoint


def test_routes_wait_for_the_waypoint_and_their_per_version_services_and_deployments(tmp_stack):
    rendered = render_file(write_ambient_stack(tmp_stack))
    by_name = {r.name: r for r in rendered.resources}
    reviews = by_name["routing-httproute-reviews"].depends_on
    assert {"routing-service-reviews-v1", "routing-service-reviews-v2", "workloads-deployment-reviews-v2",
            "workloads-gateway-waypoint"} <= {d.split("::")[-1] for d in reviews}
    policy = by_name["security-authorizationpolicy-reviews-viewer"].depends_on
    assert "workloads-gateway-waypoint" in {d.split("::")[-1] for d in policy}


def write_ambient_stack(tmp_stack):
    return tmp_stack(yaml.safe_dump({"config": {
        "bookinfo-mesh:environment": "prod", "bookinfo-mesh:istio": {"dataPlane": "ambient"},
        "bookinfo-mesh:traffic": {"api": "gateway-api"},
        "bookinfo-mesh:services": {"reviews": {"versions": ["v1", "v2"], "weights": {"v1": 90, "v2": 10}}}}}), "Pulumi.amb.yaml")


def test_the_ambient_stack_renders_its_waypoint_before_anything_that_needs_it():
    rendered = render_stack("dev-ambient")
    names = [r.name for r in rendered.resources]
    assert names.index("workloads-gateway-waypoint") < names.index("routing-httproute-reviews")
    assert objects_of(rendered, "HTTPRoute")


def test_the_objects_the_analyzers_judge_include_the_waypoint_routes_and_version_services():
    from model.stack_analysis import objects_implied
    rendered = render_stack("dev-ambient")
    implied = {(o["apiVersion"], o["kind"], o["metadata"]["name"]) for o in objects_implied(rendered.settings)}
    registered = {(o["apiVersion"], o["kind"], o["metadata"]["name"]) for o in rendered.objects()}
    gateway_api = {key for key in registered if key[0].startswith("gateway.networking.k8s.io/")}
    assert ("gateway.networking.k8s.io/v1", "Gateway", "waypoint") in gateway_api
    assert gateway_api | {("v1", "Service", "reviews-v2")} <= implied


def test_egress_stays_istio_api_under_sidecar_gateway_api(tmp_stack):
    from tests.conftest import EXAMPLES
    text = (EXAMPLES / "istio-tasks" / "egress-gateway.yaml").read_text()
    routed = tmp_stack(text.replace("config:\n", "config:\n  bookinfo-mesh:traffic: {api: gateway-api}\n", 1))

    def egress(rendered):
        """What the egress component registers."""
        return [(r.name, r.inputs) for r in rendered.resources if r.name.startswith("egress-")]
    expected = egress(render_file(EXAMPLES / "istio-tasks" / "egress-gateway.yaml"))
    assert expected and egress(render_file(routed)) == expected
    assert "istio-egressgateway" in {r.inputs["name"] for r in render_file(routed).releases()}
