"""The Secrets that let each primary's istiod read the other clusters: a long-lived
token of the reader ServiceAccount in every cluster, and in each primary a remote
Secret per other cluster shaped as `istioctl create-remote-secret` prints it."""
from __future__ import annotations

import base64
import json
from typing import Any

import yaml

from model.errors import ConfigError
from model.mesh import ISTIO_NAMESPACE
from model.settings.parse_clusters import CACERTS_KEYS, is_local_host

READER_SERVICE_ACCOUNT = "istio-reader-service-account"
"""Created by the base chart (`global.enableReaderRBAC`, default true)."""
READER_TOKEN_SECRET = f"{READER_SERVICE_ACCOUNT}-istio-remote-secret-token"
"""The name istioctl gives the token Secret it creates."""
SERVICE_ACCOUNT_TOKEN = "kubernetes.io/service-account-token"
MULTICLUSTER_LABEL = "istio/multiCluster"
CLUSTER_ANNOTATION = "networking.istio.io/cluster"
UNTRUSTED_USER_FIELDS = ("exec", "auth-provider", "tokenFile", "client-certificate", "client-key", "username",
                         "password")
"""Kubeconfig user fields istiod refuses in a remote Secret (`NewUntrustedRestConfig`):
they run a program or read a file on istiod's pod."""


def remote_secret_name(cluster: str) -> str:
    return f"istio-remote-secret-{cluster}"


def reader_token_secret() -> dict:
    """Kubernetes ≥ 1.24 fills a Secret of this type with the ServiceAccount's token
    and the cluster CA; the Secret itself carries no data."""
    return {"apiVersion": "v1", "kind": "Secret", "type": SERVICE_ACCOUNT_TOKEN,
            "metadata": {"name": READER_TOKEN_SECRET, "namespace": ISTIO_NAMESPACE,
                         "annotations": {"kubernetes.io/service-account.name": READER_SERVICE_ACCOUNT}}}


def remote_kubeconfig(cluster: str, *, server: str, ca_data: str, token: str) -> dict:
    """One cluster, context and user, all named after the cluster; a bearer token,
    never a credential plugin (istiod runs none)."""
    return {
        "apiVersion": "v1",
        "clusters": [{"cluster": {"certificate-authority-data": ca_data, "server": server}, "name": cluster}],
        "contexts": [{"context": {"cluster": cluster, "user": cluster}, "name": cluster}],
        "current-context": cluster,
        "kind": "Config",
        "users": [{"name": cluster, "user": {"token": token}}],
    }


def remote_secret(cluster: str, *, server: str, ca_data: str, token: str) -> dict:
    """The Secret a primary's istiod reads `cluster` through: the data key is the
    cluster ID istiod registers (the annotation is for people; istiod reads the key)."""
    kubeconfig = yaml.safe_dump(remote_kubeconfig(cluster, server=server, ca_data=ca_data, token=token),
                                default_flow_style=False, sort_keys=False)
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"annotations": {CLUSTER_ANNOTATION: cluster}, "labels": {MULTICLUSTER_LABEL: "true"},
                         "name": remote_secret_name(cluster), "namespace": ISTIO_NAMESPACE},
            "stringData": {cluster: kubeconfig}}


def remote_secret_data(cluster: str, *, server: str, token_data: dict | None, shown: str) -> dict[str, str]:
    """The remote Secret's `stringData` from the source cluster's reader token Secret
    `data` (base64, as Kubernetes fills it): the token decoded, the CA kept base64 as
    `certificate-authority-data` wants it. Before Kubernetes has filled it (or in an
    offline render) each stands as `shown`."""
    data = token_data or {}
    token = base64.b64decode(data["token"]).decode() if data.get("token") else shown
    return remote_secret(cluster, server=server, ca_data=data.get("ca.crt") or shown, token=token)["stringData"]


def untrusted_kubeconfig_problem(kubeconfig: Any) -> str | None:
    """Why istiod would refuse (or not reach) a remote Secret's kubeconfig, or None."""
    if not isinstance(kubeconfig, dict):
        return "not a kubeconfig mapping"
    for user in kubeconfig.get("users") or []:
        fields = (user or {}).get("user") or {}
        for field in UNTRUSTED_USER_FIELDS:
            if field in fields:
                return (f"user {user.get('name')} uses {field}: istiod refuses credentials that run a program or read "
                        f"a file; use the reader ServiceAccount's token")
    for entry in kubeconfig.get("clusters") or []:
        server = str(((entry or {}).get("cluster") or {}).get("server", ""))
        host = server.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
        if is_local_host(host):
            return f"cluster {entry.get('name')} server {server} is a local address other clusters' istiod cannot reach"
    return None


def refuse_untrusted_kubeconfig(text: str, *, file: str, path: str) -> dict:
    """A kubeconfig's plaintext (read at the program's config edge) parsed, or one
    line saying why it cannot serve a remote Secret. The text is never echoed."""
    try:
        kubeconfig = yaml.safe_load(text)
    except yaml.YAMLError:
        raise ConfigError(file=file, path=path, message="not a kubeconfig (YAML does not parse)") from None
    problem = untrusted_kubeconfig_problem(kubeconfig)
    if problem:
        raise ConfigError(file=file, path=path, message=problem)
    return kubeconfig


def kubeconfig_context(text: str, *, file: str, path: str) -> str:
    """The context a cluster's provider is given (strict mode requires one): the
    kubeconfig's `current-context`, or its only context; else one line saying why
    none can be chosen. Only context names are echoed, never credentials."""
    try:
        kubeconfig = yaml.safe_load(text)
    except yaml.YAMLError:
        raise ConfigError(file=file, path=path, message="not a kubeconfig (YAML does not parse)") from None
    if not isinstance(kubeconfig, dict):
        raise ConfigError(file=file, path=path, message="not a kubeconfig mapping")
    names = [str(entry.get("name")) for entry in kubeconfig.get("contexts") or [] if isinstance(entry, dict)]
    current = kubeconfig.get("current-context")
    if current:
        if str(current) not in names:
            raise ConfigError(file=file, path=path, message=f"current-context {current} names no context of the "
                              f"kubeconfig (it has: {', '.join(names) or 'none'})")
        return str(current)
    if len(names) == 1:
        return names[0]
    raise ConfigError(file=file, path=path, message=f"no current-context, and {len(names)} contexts to choose from "
                      f"({', '.join(names) or 'none'}); set current-context to the one this cluster's provider uses")


def cacerts_bundle(text: str, *, file: str, path: str) -> dict[str, str]:
    """A `cacerts-<cluster>` plaintext (read at the program's config edge): a JSON
    object of exactly the four PEM files, or one line saying what is wrong. istiod
    fails on a partial bundle and ignores a key it does not know. No PEM is echoed."""
    try:
        bundle = json.loads(text)
    except ValueError:
        bundle = None
    if not isinstance(bundle, dict):
        raise ConfigError(file=file, path=path, message=f"expected a JSON object with {', '.join(CACERTS_KEYS)}")
    missing = [key for key in CACERTS_KEYS if key not in bundle]
    extra = sorted(key for key in bundle if key not in CACERTS_KEYS)
    if missing or extra:
        wrong = f"missing {', '.join(missing)}" if missing else f"unknown {', '.join(extra)}"
        raise ConfigError(file=file, path=path, message=f"{wrong}; allowed: exactly {', '.join(CACERTS_KEYS)}")
    for key in CACERTS_KEYS:
        value = bundle[key]
        if not isinstance(value, str) or "-----BEGIN " not in value:
            raise ConfigError(file=file, path=f"{path}.{key}", message="expected PEM text (-----BEGIN ...)")
    return bundle
