"""Traffic and security features as stack config: what each key renders, what each
bad value is refused with (one line naming the key path), the production posture,
the extra versions (details v2, ratings v2 with MongoDB) and secrets that never
show."""
from __future__ import annotations

import json
import subprocess
import sys

import kubernetes_validate
import pytest
import yaml
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from model.egress import egress_gateway_route
from model.errors import ConfigError
from model.routing import destination_rule, service_virtual_service
from model.security import security_objects
from model.workloads import application_objects
from tests.conftest import ROOT, objects_of, render_file, render_stack, settings_from

ALL_V1 = {"productpage": {"to": "v1"}, "reviews": {"to": "v1"}, "ratings": {"to": "v1"}, "details": {"to": "v1"}}


def dev(**config) -> dict:
    return {"environment": "dev", **config}


# ------------------------------------------------------------------ refusals

BAD = [
    # (config, key path the message names, words it contains)
    ({"services": {"reviews": {"to": "v1", "mirror": {"version": "v4"}}}},
     "bookinfo-mesh:services.reviews.mirror.version", "deployed: v1, v2, v3"),
    ({"services": {"reviews": {"versions": ["v1", "v2"], "to": "v1", "mirror": {"version": "v3"}}}},
     "bookinfo-mesh:services.reviews.mirror.version", "not deployed"),
    ({"services": {"reviews": {"to": "v1", "mirror": {"version": "v1"}}}},
     "bookinfo-mesh:services.reviews.mirror.version", "already sends"),
    ({"services": {"reviews": {"to": "v1", "mirror": {"version": "v2", "percentage": -5}}}},
     "bookinfo-mesh:services.reviews.mirror.percentage", "0 to 100"),
    ({"services": {"ratings": {"to": "v1", "fault": {"delay": {"fixedDelay": "7s", "percentage": -1}}}}},
     "bookinfo-mesh:services.ratings.fault.delay.percentage", "0 to 100"),
    ({"services": {"ratings": {"to": "v1", "fault": {"abort": {"httpStatus": 500, "percentage": 101}}}}},
     "bookinfo-mesh:services.ratings.fault.abort.percentage", "0 to 100"),
    ({"services": {"ratings": {"fault": {"abort": {"httpStatus": 500}}}}},
     "bookinfo-mesh:services.ratings.fault", "needs a route"),
    ({"services": {"ratings": {"routes": [{"match": {"headers": {"end-user": {"exact": "jason"}}},
                                           "fault": {"abort": {"httpStatus": 500}}}], "to": "v1"}}},
     "bookinfo-mesh:services.ratings.routes[0]", "needs a destination"),
    ({"services": {"ratings": {"routes": [{"fault": {"abort": {"httpStatus": 500}}, "to": "v1"}], "to": "v1"}}},
     "bookinfo-mesh:services.ratings.routes[0]", "needs a match"),
    ({"services": {"ratings": {"to": "v1", "fault": {}}}},
     "bookinfo-mesh:services.ratings.fault", "delay, abort"),
    ({"services": {"ratings": {"to": "v1", "fault": {"abort": {"httpStatus": 99}}}}},
     "bookinfo-mesh:services.ratings.fault.abort.httpStatus", "at least 200"),
    ({"services": {"reviews": {"to": "v2", "timeout": "half a second"}}},
     "bookinfo-mesh:services.reviews.timeout", "duration"),
    ({"services": {"reviews": {"to": "v2", "timeout": 0.5}}},
     "bookinfo-mesh:services.reviews.timeout", "duration"),
    ({"services": {"ratings": {"to": "v1", "fault": {"delay": {"fixedDelay": "7 s"}}}}},
     "bookinfo-mesh:services.ratings.fault.delay.fixedDelay", "duration"),
    ({"services": {"ratings": {"to": "v1", "retries": {"attempts": 3, "perTryTimeout": "2"}}}},
     "bookinfo-mesh:services.ratings.retries.perTryTimeout", "duration"),
    ({"services": {"ratings": {"to": "v1", "retries": {"attempts": -1}}}},
     "bookinfo-mesh:services.ratings.retries.attempts", "at least 0"),
    ({"services": {"ratings": {"to": "v1", "retries": {"attempts": 2, "retryOn": "5xx,sometimes"}}}},
     "bookinfo-mesh:services.ratings.retries.retryOn", "sometimes"),
    ({"services": {"ratings": {"to": "v1", "retries": {"perTryTimeout": "2s"}}}},
     "bookinfo-mesh:services.ratings.retries.attempts", "required"),
    ({"services": {"reviews": {"to": "v1", "retry": {"attempts": 3}}}},
     "bookinfo-mesh:services.reviews.retry", "unknown key"),
    ({"services": {"reviews": {"trafficPolicy": {"loadBalancer": "FASTEST"}}}},
     "bookinfo-mesh:services.reviews.trafficPolicy.loadBalancer", "ROUND_ROBIN"),
    ({"services": {"reviews": {"trafficPolicy": {"loadBalancer": {"consistentHash": {"httpHeaderName": "a",
                                                                                      "httpCookie": {}}}}}}},
     "bookinfo-mesh:services.reviews.trafficPolicy.loadBalancer.consistentHash", "exactly one"),
    ({"services": {"reviews": {"trafficPolicy": {"connectionPool": {"tcp": {"maxConnections": 0}}}}}},
     "bookinfo-mesh:services.reviews.trafficPolicy.connectionPool.tcp.maxConnections", "at least 1"),
    ({"services": {"reviews": {"trafficPolicy": {"outlierDetection": {"maxEjectionPercent": 150}}}}},
     "bookinfo-mesh:services.reviews.trafficPolicy.outlierDetection.maxEjectionPercent", "at most 100"),
    ({"services": {"reviews": {"trafficPolicy": {"outlierDetection": {"interval": "1"}}}}},
     "bookinfo-mesh:services.reviews.trafficPolicy.outlierDetection.interval", "duration"),
    ({"services": {"reviews": {"trafficPolicy": {"outlierDetection": {"ejectAll": True}}}}},
     "bookinfo-mesh:services.reviews.trafficPolicy.outlierDetection.ejectAll", "unknown key"),
    ({"services": {"reviews": {"versions": ["v1"], "subsetTrafficPolicy": {"v2": {"loadBalancer": "RANDOM"}}}}},
     "bookinfo-mesh:services.reviews.subsetTrafficPolicy.v2", "not deployed"),
    ({"security": {"mtlsMode": "strict"}}, "bookinfo-mesh:security.mtlsMode", "STRICT"),
    ({"security": {"authorization": True}}, "bookinfo-mesh:security.authorization", "least-privilege"),
    ({"security": {"mtls": "STRICT"}}, "bookinfo-mesh:security.mtls", "unknown key"),
    ({"ingress": {"tls": {"httpsRedirect": True}}}, "bookinfo-mesh:ingress.tls.credentialName", "required"),
    ({"ingress": {"tls": {"credentialName": "c", "certificate": "PEM"}}},
     "bookinfo-mesh:ingress.tls.privateKey", "together"),
    ({"egress": {"externalServices": [{"host": "www.googleapis.com"}]}},
     "bookinfo-mesh:egress.externalServices[0].ports", "required"),
    ({"egress": {"externalServices": [{"host": "googleapis", "ports": [{"number": 80, "protocol": "HTTP"}]}]}},
     "bookinfo-mesh:egress.externalServices[0].host", "fully qualified"),
    ({"egress": {"externalServices": [{"host": "a.example.com", "ports": [{"number": 80, "protocol": "HTTP"}],
                                       "tlsOrigination": {"port": 80}}]}},
     "bookinfo-mesh:egress.externalServices[0].tlsOrigination.port", "expected HTTPS or TLS"),
    ({"egress": {"externalServices": [{"host": "a.example.com", "ports": [{"number": 80, "protocol": "HTTP"}],
                                       "egressGateway": {"port": 8080}}]}},
     "bookinfo-mesh:egress.externalServices[0].egressGateway.port", "not one of"),
    ({"egress": {"externalServices": [{"host": "a.example.com", "ports": [{"number": 80, "protocol": "HTTP"}],
                                       "egressGateway": {"port": 80}}]}},
     "bookinfo-mesh:egress.externalServices[0].egressGateway", "istio.egressGateway.enabled"),
    ({"firewall": {}}, "bookinfo-mesh:firewall", "unknown key"),
]


@pytest.mark.parametrize("config,path,words", BAD, ids=[b[1].split(":")[1] + "-" + b[2] for b in BAD])
def test_a_bad_feature_config_is_refused_with_one_line_naming_its_key_path(config, path, words):
    with pytest.raises(ConfigError) as caught:
        settings_from(dev(**config))
    message = str(caught.value)
    assert "\n" not in message
    assert f"Pulumi.test.yaml: {path}" in message
    assert words in message


@pytest.mark.parametrize("bad", [
    {"reviews": {"to": "v1", "mirror": {"version": "v9", "percentage": 100}}},
    {"ratings": {"to": "v1", "fault": {"delay": {"fixedDelay": "7s", "percentage": -10}}}},
    {"ratings": {"fault": {"abort": {"httpStatus": 500, "percentage": 100}}}},
    {"reviews": {"to": "v2", "timeout": "soon"}},
])
def test_meshplan_render_of_a_bad_feature_config_exits_1_with_one_line_and_no_traceback(bad, tmp_stack):
    path = tmp_stack(yaml.safe_dump({"config": {"bookinfo-mesh:environment": "dev", "bookinfo-mesh:services": bad}}),
                     name="bad.yaml")
    done = subprocess.run([sys.executable, "-m", "meshplan", "render", "--config", str(path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "bookinfo-mesh:services." in lines[0]
    assert "Traceback" not in done.stderr


# ------------------------------------------------------------------ routes and policies


def test_route_options_render_in_istio_spelling_on_match_and_default_routes():
    settings = settings_from(dev(services={"reviews": {
        "routes": [{"match": {"uri": {"prefix": "/slow"}}, "to": "v2",
                    "fault": {"delay": {"fixedDelay": "250ms", "percentage": 12.5},
                              "abort": {"httpStatus": 503, "percentage": 1}},
                    "retries": {"attempts": 2, "perTryTimeout": "1s", "retryOn": "5xx,connect-failure,503"}}],
        "weights": {"v1": 90, "v3": 10}, "timeout": "2m", "mirror": {"version": "v2"},
    }}))
    http = service_virtual_service(settings, "reviews")["spec"]["http"]
    assert http == [
        {"match": [{"uri": {"prefix": "/slow"}}],
         "fault": {"delay": {"percentage": {"value": 12.5}, "fixedDelay": "250ms"},
                   "abort": {"percentage": {"value": 1.0}, "httpStatus": 503}},
         "route": [{"destination": {"host": "reviews", "subset": "v2"}}],
         "retries": {"attempts": 2, "perTryTimeout": "1s", "retryOn": "5xx,connect-failure,503"}},
        {"route": [{"destination": {"host": "reviews", "subset": "v1"}, "weight": 90},
                   {"destination": {"host": "reviews", "subset": "v3"}, "weight": 10}],
         "timeout": "2m",
         # No percentage given: Istio mirrors every request, so none is written.
         "mirror": {"host": "reviews", "subset": "v2"}},
    ]


def test_load_balancers_and_subset_level_circuit_breaking_render_on_the_destination_rule():
    settings = settings_from(dev(services={"reviews": {
        "trafficPolicy": {"loadBalancer": {"consistentHash": {"httpCookie": {"name": "user", "ttl": "0s"}}}},
        "subsetTrafficPolicy": {
            "v2": {"loadBalancer": "LEAST_REQUEST",
                   "connectionPool": {"http": {"http2MaxRequests": 100, "maxRetries": 3}},
                   "outlierDetection": {"consecutiveGatewayErrors": 5, "baseEjectionTime": "30s"}},
            "v3": {"loadBalancer": {"consistentHash": {"httpHeaderName": "end-user"}}},
        },
    }}))
    assert destination_rule(settings, "reviews")["spec"] == {
        "host": "reviews",
        "trafficPolicy": {"loadBalancer": {"consistentHash": {"httpCookie": {"name": "user", "ttl": "0s"}}}},
        "subsets": [
            {"name": "v1", "labels": {"version": "v1"}},
            {"name": "v2", "labels": {"version": "v2"},
             "trafficPolicy": {"loadBalancer": {"simple": "LEAST_REQUEST"},
                               "connectionPool": {"http": {"http2MaxRequests": 100, "maxRetries": 3}},
                               "outlierDetection": {"consecutiveGatewayErrors": 5, "baseEjectionTime": "30s"}}},
            {"name": "v3", "labels": {"version": "v3"},
             "trafficPolicy": {"loadBalancer": {"consistentHash": {"httpHeaderName": "end-user"}}}},
        ],
    }


def test_istio_mutual_joins_the_service_policy_instead_of_replacing_it():
    settings = settings_from(dev(security={"istioMutual": True},
                                 services={"ratings": {"trafficPolicy": {"loadBalancer": "RANDOM"}}}))
    assert destination_rule(settings, "ratings")["spec"]["trafficPolicy"] == {
        "loadBalancer": {"simple": "RANDOM"}, "tls": {"mode": "ISTIO_MUTUAL"}}


# ------------------------------------------------------------------ posture


def test_prod_renders_strict_mtls_least_privilege_authorization_and_registry_only():
    rendered = render_stack("prod")
    peer = objects_of(rendered, "PeerAuthentication")
    assert peer == {"default": {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
                                "metadata": {"name": "default", "namespace": "bookinfo"},
                                "spec": {"mtls": {"mode": "STRICT"}}}}
    policies = objects_of(rendered, "AuthorizationPolicy")
    assert sorted(policies) == ["allow-nothing", "details-viewer", "productpage-viewer",
                                "ratings-viewer", "reviews-viewer"]
    assert policies["allow-nothing"]["spec"] == {}
    assert policies["ratings-viewer"]["spec"]["rules"][0]["from"] == [
        {"source": {"principals": ["cluster.local/ns/bookinfo/sa/bookinfo-reviews"]}}]
    for rule in objects_of(rendered, "DestinationRule").values():
        assert rule["spec"]["trafficPolicy"]["tls"] == {"mode": "ISTIO_MUTUAL"}
    istiod = next(r for r in rendered.releases() if r.inputs["name"] == "istiod")
    assert istiod.inputs["values"]["meshConfig"]["outboundTrafficPolicy"] == {"mode": "REGISTRY_ONLY"}


def test_an_unnamed_environment_gets_the_prod_security_posture():
    settings = settings_from({})
    assert (settings.security.mtls_mode, settings.security.istio_mutual, settings.security.authorization) == \
        ("STRICT", True, "least-privilege")


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_dev_and_staging_create_no_security_objects_and_no_egress_objects(stack):
    kinds = {o["kind"] for o in render_stack(stack).objects()}
    assert not kinds & {"PeerAuthentication", "AuthorizationPolicy", "ServiceEntry"}


def test_prod_can_still_opt_out_of_each_security_default():
    settings = settings_from({"security": {"mtlsMode": "NONE", "istioMutual": False, "authorization": "none"}})
    assert security_objects(settings) == []


def test_permissive_mtls_renders_a_permissive_peer_authentication():
    [peer] = security_objects(settings_from(dev(security={"mtlsMode": "PERMISSIVE"})))
    assert peer["spec"] == {"mtls": {"mode": "PERMISSIVE"}}


def test_viewer_principals_follow_the_namespace():
    settings = settings_from(dev(app={"namespace": "shop"}, security={"authorization": "least-privilege"}))
    policies = {o["metadata"]["name"]: o for o in security_objects(settings)}
    assert all(o["metadata"]["namespace"] == "shop" for o in policies.values())
    assert policies["details-viewer"]["spec"]["rules"][0]["from"][0]["source"]["principals"] == [
        "cluster.local/ns/shop/sa/bookinfo-productpage"]


# ------------------------------------------------------------------ extra versions


def test_details_v2_renders_like_upstream_bookinfo_details_v2_running_as_bookinfo_details():
    objects = application_objects(settings_from(dev(services={"details": {"versions": ["v2"], "to": "v2"}})))
    deployment = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "details-v2")
    assert deployment == {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "details-v2", "namespace": "bookinfo", "labels": {"app": "details", "version": "v2"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "details", "version": "v2"}},
            "template": {
                "metadata": {"labels": {"app": "details", "version": "v2"}},
                "spec": {
                    # Upstream omits the account; here it is the service's, for authorization.
                    "serviceAccountName": "bookinfo-details",
                    "containers": [{
                        "name": "details",
                        "image": "registry.istio.io/release/examples-bookinfo-details-v2:1.20.3",
                        "imagePullPolicy": "IfNotPresent",
                        "ports": [{"containerPort": 9080}],
                        "env": [{"name": "DO_NOT_ENCRYPT", "value": "true"}],
                    }],
                },
            },
        },
    }


RATINGS_V2 = dev(security={"authorization": "least-privilege"},
                 services={"ratings": {"versions": ["v1", "v2"], "to": "v2"}})


def test_ratings_v2_renders_like_upstream_with_its_own_account_and_mongodb():
    objects = {(o["kind"], o["metadata"]["name"]): o for o in application_objects(settings_from(RATINGS_V2))}
    assert objects[("ServiceAccount", "bookinfo-ratings-v2")] == {
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "bookinfo-ratings-v2", "namespace": "bookinfo"}}
    assert objects[("Deployment", "ratings-v2")]["spec"]["template"] == {
        "metadata": {"labels": {"app": "ratings", "version": "v2"}},
        "spec": {
            "serviceAccountName": "bookinfo-ratings-v2",
            "containers": [{
                "name": "ratings",
                "image": "registry.istio.io/release/examples-bookinfo-ratings-v2:1.20.3",
                "imagePullPolicy": "IfNotPresent",
                "env": [{"name": "MONGO_DB_URL", "value": "mongodb://mongodb:27017/test"}],
                "ports": [{"containerPort": 9080}],
            }],
        },
    }
    # bookinfo-db.yaml
    assert objects[("Service", "mongodb")] == {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "mongodb", "namespace": "bookinfo", "labels": {"app": "mongodb", "service": "mongodb"}},
        "spec": {"ports": [{"port": 27017, "name": "mongo"}], "selector": {"app": "mongodb"}},
    }
    assert objects[("Deployment", "mongodb-v1")] == {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "mongodb-v1", "namespace": "bookinfo", "labels": {"app": "mongodb", "version": "v1"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "mongodb", "version": "v1"}},
            "template": {
                "metadata": {"labels": {"app": "mongodb", "version": "v1"}},
                "spec": {
                    "containers": [{
                        "name": "mongodb",
                        "image": "registry.istio.io/release/examples-bookinfo-mongodb:1.20.3",
                        "imagePullPolicy": "IfNotPresent",
                        "ports": [{"containerPort": 27017}],
                        "args": ["--ipv6", "--bind_ip_all"],
                        "volumeMounts": [{"name": "data-db", "mountPath": "/data/db"}],
                    }],
                    "volumes": [{"name": "data-db", "emptyDir": {}}],
                },
            },
        },
    }
    for obj in objects.values():
        kubernetes_validate.validate(obj, "1.33", strict=True)


def test_with_ratings_v2_only_its_account_may_reach_mongodb():
    policies = {o["metadata"]["name"]: o for o in security_objects(settings_from(RATINGS_V2))}
    assert policies["mongodb-viewer"]["spec"] == {
        "selector": {"matchLabels": {"app": "mongodb"}},
        "action": "ALLOW",
        # MongoDB speaks TCP: no HTTP method to match, only who connects.
        "rules": [{"from": [{"source": {"principals": ["cluster.local/ns/bookinfo/sa/bookinfo-ratings-v2"]}}]}],
    }
    # Callers of ratings are unchanged by which ratings versions run.
    assert policies["ratings-viewer"]["spec"]["rules"][0]["from"][0]["source"]["principals"] == [
        "cluster.local/ns/bookinfo/sa/bookinfo-reviews"]


def test_without_ratings_v2_there_is_neither_mongodb_nor_its_policy():
    settings = settings_from(dev(security={"authorization": "least-privilege"}))
    assert "mongodb" not in settings.services
    assert "mongodb-viewer" not in {o["metadata"]["name"] for o in security_objects(settings)}


# ------------------------------------------------------------------ egress


def test_the_egress_gateway_route_builder_is_generic_in_host_port_protocol_and_namespace():
    dr, vs = egress_gateway_route(name="payments", host="api.pay.example.com", port=443, protocol="HTTPS",
                                  namespace="shop")
    gateway_host = "istio-egressgateway.istio-system.svc.cluster.local"
    assert dr == {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
                  "metadata": {"name": "egressgateway-for-payments", "namespace": "shop"},
                  "spec": {"host": gateway_host, "subsets": [{"name": "payments"}]}}
    # HTTPS passes through the gateway untouched: routed by SNI on 443, not by HTTP.
    assert vs["spec"] == {
        "hosts": ["api.pay.example.com"],
        "gateways": ["istio-egressgateway", "mesh"],
        "tls": [
            {"match": [{"gateways": ["mesh"], "port": 443, "sniHosts": ["api.pay.example.com"]}],
             "route": [{"destination": {"host": gateway_host, "subset": "payments", "port": {"number": 443}},
                        "weight": 100}]},
            {"match": [{"gateways": ["istio-egressgateway"], "port": 443, "sniHosts": ["api.pay.example.com"]}],
             "route": [{"destination": {"host": "api.pay.example.com", "port": {"number": 443}}, "weight": 100}]},
        ],
    }


def test_two_hosts_through_the_egress_gateway_share_one_gateway_with_a_server_per_protocol(tmp_stack):
    path = tmp_stack(yaml.safe_dump({"config": {
        "bookinfo-mesh:environment": "dev",
        "bookinfo-mesh:istio": {"egressGateway": {"enabled": True}},
        "bookinfo-mesh:egress": {"externalServices": [
            {"name": "cnn", "host": "edition.cnn.com", "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
             "egressGateway": {"port": 80}},
            {"host": "api.example.com", "ports": [{"number": 443, "protocol": "TLS"}],
             "egressGateway": {"port": 443}},
        ]},
    }}))
    rendered = render_file(path)
    gateways = objects_of(rendered, "Gateway")
    assert gateways["istio-egressgateway"]["spec"]["servers"] == [
        {"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["edition.cnn.com"]},
        {"port": {"number": 443, "name": "tls", "protocol": "TLS"}, "hosts": ["api.example.com"],
         "tls": {"mode": "PASSTHROUGH"}},
    ]
    entries = objects_of(rendered, "ServiceEntry")
    assert sorted(entries) == ["api-example-com", "cnn"]
    assert entries["api-example-com"]["spec"]["ports"] == [{"number": 443, "name": "tls", "protocol": "TLS"}]
    assert sorted(objects_of(rendered, "VirtualService")) == [
        "bookinfo", "details", "direct-api-example-com-through-egress-gateway", "direct-cnn-through-egress-gateway",
        "productpage", "ratings", "reviews"]


def test_an_egress_gateway_route_needs_no_install_flag_when_istio_is_preinstalled():
    settings = settings_from(dev(istio={"install": False}, egress={"externalServices": [
        {"name": "cnn", "host": "edition.cnn.com", "ports": [{"number": 80, "protocol": "HTTP"}],
         "egressGateway": {"port": 80}}]}))
    assert settings.egress.services[0].egress_gateway_port.number == 80


# ------------------------------------------------------------------ ingress TLS secret

CERTIFICATE = "-----BEGIN CERTIFICATE-----\nMIIBnotreallyacertificate\n-----END CERTIFICATE-----\n"


def test_the_ingress_tls_secret_is_created_from_secrets_and_never_shown(tmp_stack):
    path = tmp_stack(yaml.safe_dump({"config": {
        "bookinfo-mesh:environment": "dev",
        "bookinfo-mesh:ingress": {"hosts": ["bookinfo.example.com"], "tls": {
            "credentialName": "bookinfo-credential", "certificate": CERTIFICATE,
            "privateKey": {"secure": "v1:AAAAciphertextB"}}},
    }}))
    rendered = render_file(path)
    secret = objects_of(rendered, "Secret")["bookinfo-credential"]
    assert secret["metadata"] == {"name": "bookinfo-credential", "namespace": "istio-ingress"}
    assert secret["type"] == "kubernetes.io/tls"
    assert secret["stringData"] == "[secret]"
    shown = json.dumps(rendered.as_json())
    assert "notreally" not in shown
    assert "BEGIN" not in shown


def test_an_encrypted_certificate_in_a_stack_file_renders_masked(tmp_stack):
    path = tmp_stack(
        "config:\n"
        "  bookinfo-mesh:environment: dev\n"
        "  bookinfo-mesh:ingress:\n"
        "    tls:\n"
        "      credentialName: bookinfo-credential\n"
        "      certificate:\n"
        "        secure: v1:AAAAciphertextA\n"
        "      privateKey:\n"
        "        secure: v1:AAAAciphertextB\n")
    rendered = render_file(path)
    assert objects_of(rendered, "Secret")["bookinfo-credential"]["stringData"] == "[secret]"
    assert "ciphertext" not in json.dumps(rendered.as_json())


def test_without_certificate_the_gateway_uses_a_secret_managed_elsewhere():
    rendered = render_file(ROOT / "examples" / "istio-tasks" / "ingress-tls.yaml")
    assert objects_of(rendered, "Secret") == {}


# ------------------------------------------------------------------ properties

def _delay(percentage) -> dict:
    return dev(services={"ratings": {"to": "v1", "fault": {"delay": {"fixedDelay": "1s", "percentage": percentage}}}})


@hypothesis_settings(max_examples=60, deadline=None)
@given(st.floats(min_value=0, max_value=100, allow_nan=False))
def test_any_percentage_from_0_to_100_is_rendered_as_written(percentage):
    settings = settings_from(_delay(percentage))
    http = service_virtual_service(settings, "ratings")["spec"]["http"]
    assert http[0]["fault"]["delay"]["percentage"] == {"value": percentage}


@hypothesis_settings(max_examples=60, deadline=None)
@given(st.one_of(st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=True),
                 st.floats(min_value=100.000001, allow_nan=False, allow_infinity=True),
                 st.text(max_size=5), st.booleans()))
def test_any_percentage_outside_0_to_100_is_refused_naming_its_path(percentage):
    with pytest.raises(ConfigError) as caught:
        settings_from(_delay(percentage))
    assert "bookinfo-mesh:services.ratings.fault.delay.percentage" in str(caught.value)


@hypothesis_settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=10**6), st.sampled_from(["ms", "s", "m", "h"]))
def test_any_whole_duration_of_at_least_1ms_is_a_timeout(amount, unit):
    settings = settings_from(dev(services={"reviews": {"to": "v2", "timeout": f"{amount}{unit}"}}))
    assert service_virtual_service(settings, "reviews")["spec"]["http"][0]["timeout"] == f"{amount}{unit}"
