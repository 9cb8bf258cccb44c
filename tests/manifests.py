"""Manifests written for the tests, equivalent in structure to Istio's Bookinfo
sample (platform/kube/bookinfo.yaml, bookinfo-gateway.yaml, destination-rule-all.yaml,
virtual-service-all-v1.yaml): no namespaces set, a Gateway for the istioctl-installed
ingress gateway, a DestinationRule subset per version the sample knows (some of them
not deployed) and every service routed to v1."""
from __future__ import annotations

import copy

import yaml

SERVICES = ("details", "ratings", "reviews", "productpage")
DEPLOYED = {"details": ("v1",), "ratings": ("v1",), "reviews": ("v1", "v2", "v3"), "productpage": ("v1",)}
SUBSETS = {"productpage": ("v1",), "reviews": ("v1", "v2", "v3"),
           "ratings": ("v1", "v2", "v2-mysql", "v2-mysql-vm"), "details": ("v1", "v2")}


def platform() -> list[dict]:
    objects = []
    for name in SERVICES:
        objects.append({"apiVersion": "v1", "kind": "Service",
                        "metadata": {"name": name, "labels": {"app": name, "service": name}},
                        "spec": {"ports": [{"port": 9080, "name": "http"}], "selector": {"app": name}}})
        objects.append({"apiVersion": "v1", "kind": "ServiceAccount",
                        "metadata": {"name": f"bookinfo-{name}", "labels": {"account": name}}})
        for version in DEPLOYED[name]:
            labels = {"app": name, "version": version}
            objects.append({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": f"{name}-{version}", "labels": labels},
                "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                         "template": {"metadata": {"labels": labels}, "spec": {
                             "serviceAccountName": f"bookinfo-{name}",
                             "containers": [{"name": name, "image":
                                             f"docker.io/istio/examples-bookinfo-{name}-{version}:1.20.3",
                                             "ports": [{"containerPort": 9080}]}]}}},
            })
    return objects


def gateway() -> list[dict]:
    return [
        {"apiVersion": "networking.istio.io/v1", "kind": "Gateway", "metadata": {"name": "bookinfo-gateway"},
         "spec": {"selector": {"istio": "ingressgateway"},
                  "servers": [{"port": {"number": 8080, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}]}},
        {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "bookinfo"},
         "spec": {"hosts": ["*"], "gateways": ["bookinfo-gateway"], "http": [{
             "match": [{"uri": {"exact": "/productpage"}}, {"uri": {"prefix": "/static"}},
                       {"uri": {"exact": "/login"}}, {"uri": {"exact": "/logout"}},
                       {"uri": {"prefix": "/api/v1/products"}}],
             "route": [{"destination": {"host": "productpage", "port": {"number": 9080}}}]}]}},
    ]


def destination_rules() -> list[dict]:
    return [{"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule", "metadata": {"name": name},
             "spec": {"host": name, "subsets": [{"name": s, "labels": {"version": s}} for s in subsets]}}
            for name, subsets in SUBSETS.items()]


def all_v1() -> list[dict]:
    return [{"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": name},
             "spec": {"hosts": [name], "http": [{"route": [{"destination": {"host": name, "subset": "v1"}}]}]}}
            for name in SUBSETS]


def bookinfo() -> list[dict]:
    """The four upstream files together, as fresh objects to mutate."""
    return copy.deepcopy(platform() + gateway() + destination_rules() + all_v1())


def find(objects: list[dict], kind: str, name: str) -> dict:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def as_yaml(objects: list[dict]) -> str:
    return yaml.safe_dump_all(objects, sort_keys=False)
