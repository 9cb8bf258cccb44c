"""The two multi-cluster example stacks (as they will stand in examples/multicluster/
once the program builds them), and their settings parsed the way the program will:
`parse_settings` for the one-cluster keys, `parse_clusters` for the rest."""
from __future__ import annotations

import copy

from model.settings import SecretValue, parse_settings
from model.settings.parse_clusters import PLACEMENT_KEY, parse_clusters
from model.settings.reader import Cursor
from model.names import SECRET_SHOWN

MULTI_PRIMARY_MULTI_NETWORK = """\
# Two primaries on two networks (Istio's multi-primary, multi-network install): each
# runs its own istiod and an east-west gateway exposing *.local, and reads the
# other's API server through a remote Secret. Both carry the same traffic config.
# Secrets: kubeconfig-east, kubeconfig-west, cacerts-east, cacerts-west (pulumi config set --secret).
config:
  bookinfo-mesh:environment: staging
  bookinfo-mesh:mesh:
    id: mesh1
    trustDomain: cluster.local
    trust: {mode: provided}
  bookinfo-mesh:clusters:
    east:
      role: primary
      network: net-east
      kubeconfig: {secret: kubeconfig-east}
      apiServer: https://10.0.0.10:6443
      eastWest: {serviceType: LoadBalancer, address: 34.75.71.237}
    west:
      role: primary
      network: net-west
      kubeconfig: {secret: kubeconfig-west}
      apiServer: https://10.1.0.10:6443
      eastWest: {serviceType: LoadBalancer, address: 35.1.2.3}
  bookinfo-mesh:app:
    placement:
      reviews: {v1: [east], v2: [east, west], v3: [west]}
  bookinfo-mesh:services:
    reviews:
      versions: [v1, v2, v3]
      weights: {v1: 50, v2: 30, v3: 20}
"""

PRIMARY_REMOTE_MULTI_NETWORK = """\
# A primary and a remote on two networks (Istio's primary-remote, multi-network
# install): east's istiod, exposed through its east-west gateway, configures west's
# proxies; west runs no istiod and no traffic objects of its own.
# Secrets: kubeconfig-east, kubeconfig-west, cacerts-east (pulumi config set --secret).
config:
  bookinfo-mesh:environment: staging
  bookinfo-mesh:mesh:
    id: mesh1
    trustDomain: cluster.local
    trust: {mode: provided}
  bookinfo-mesh:clusters:
    east:
      role: primary
      network: net-east
      kubeconfig: {secret: kubeconfig-east}
      apiServer: https://10.0.0.10:6443
      eastWest: {serviceType: LoadBalancer, address: 34.75.71.237}
    west:
      role: remote
      network: net-west
      controlPlane: east
      kubeconfig: {secret: kubeconfig-west}
      apiServer: https://10.1.0.10:6443
      eastWest: {serviceType: LoadBalancer}
  bookinfo-mesh:app:
    placement:
      reviews: {v1: [east], v2: [east], v3: [west]}
  bookinfo-mesh:services:
    reviews:
      versions: [v1, v2, v3]
      weights: {v1: 45, v2: 45, v3: 10}
"""

MULTI_CLUSTER_KEYS = ("mesh", "clusters")


def one_cluster_part(raw: dict) -> dict:
    """The config `parse_settings` reads today: without the multi-cluster keys and
    the per-cluster secret keys."""
    rest = {k: v for k, v in raw.items() if k not in MULTI_CLUSTER_KEYS and not k.startswith(("kubeconfig-", "cacerts-"))}
    if isinstance(rest.get("app"), dict):
        rest["app"] = {k: v for k, v in rest["app"].items() if k != PLACEMENT_KEY}
    return rest


def settings_of(text: str, *, source: str = "Pulumi.example.yaml", with_secrets: bool = True):
    """(Settings, MultiClusterSettings) of a stack text, its secret keys set."""
    import yaml
    raw = {key.split(":", 1)[1]: value for key, value in yaml.safe_load(text)["config"].items()}
    if with_secrets:
        for cluster, body in raw["clusters"].items():
            raw[f"kubeconfig-{cluster}"] = SecretValue(SECRET_SHOWN)
            if body["role"] == "primary":
                raw[f"cacerts-{cluster}"] = SecretValue(SECRET_SHOWN)
    settings = parse_settings(one_cluster_part(copy.deepcopy(raw)), stack="example", source=source)
    mc = parse_clusters(Cursor.root(raw, source=source, path="bookinfo-mesh:"), application=settings.app.application,
                        environment=settings.environment, data_plane=settings.istio.data_plane, stack="example",
                        install=settings.istio.install)
    return settings, mc
