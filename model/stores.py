"""Builders for the application's stateful stores and the Secrets its pods read:
per store a headless Service (and optionally a client Service), an init-script
ConfigMap and a StatefulSet with a volume claim template; per secret config key a
Kubernetes Secret.

Data outlives the objects that use it: every StatefulSet asks Kubernetes to keep its
volume claims both when it is deleted and when it is scaled down, and a stack whose
store settings say `protect` additionally has Pulumi refuse to delete or replace the
StatefulSet (a change to the volume claim template, which Kubernetes cannot update
in place, then stops at preview instead of recreating the store).

In a stack with clusters a store runs in the one cluster `app.placement` names (its
StatefulSet, claims and init ConfigMap there only), while its client Service is in
every cluster, as the application's Services are: a client resolves the name through
its own cluster's DNS and Istio carries the connection to the store's cluster
(through the east-west gateway across networks). The headless Service, which only
names the store's pods, stays with them: kube-dns, and Istio's DNS proxy too, answer
a headless name with the pods of the asking cluster only (never another network's),
so clients always connect through the client Service there.

Secret values never pass through here as text: the caller hands in whatever the
program holds (a Pulumi secret Output), and this module only places it."""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from model.apps import Application, SecretKey, Store
from model.settings import Settings, StoreSettings
from model.workloads import RESTRICTED_SECURITY_CONTEXT, labels, secret_env

# Kubernetes keeps the claims of a deleted or scaled-down StatefulSet.
RETAIN_CLAIMS = {"whenDeleted": "Retain", "whenScaled": "Retain"}
DATA_VOLUME = "data"
INIT_VOLUME = "init"


def store_labels(store: Store) -> dict[str, str]:
    """A store's pods carry the same `app` label every workload does."""
    return labels(store.name)


def init_config_map_name(store: Store) -> str:
    return f"{store.name}-init"


def headless_service(store: Store, ns: str) -> dict:
    """Names each pod (`<name>-0.<service>`) and is the StatefulSet's serviceName.
    Publishes not-ready pods too: peers and init need the names before readiness."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": store.headless_service, "namespace": ns, "labels": store_labels(store)},
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "ports": [{"port": store.port, "name": store.port_name}],
            "selector": store_labels(store),
        },
    }


def client_service(store: Store, ns: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": store.name, "namespace": ns, "labels": store_labels(store)},
        "spec": {"ports": [{"port": store.port, "name": store.port_name}], "selector": store_labels(store)},
    }


def init_config_map(store: Store, ns: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": init_config_map_name(store), "namespace": ns, "labels": store_labels(store)},
        "data": dict(store.init_files),
    }


def stateful_set(store: Store, stored: StoreSettings, ns: str) -> dict:
    container: dict = {
        "name": store.name,
        "image": store.image,
        "imagePullPolicy": "IfNotPresent",
    }
    env = [{"name": k, "value": v} for k, v in store.env] + secret_env(store.secret_env)
    if env:
        container["env"] = env
    container["ports"] = [{"containerPort": store.port, "name": store.port_name}]
    mounts = [{"name": DATA_VOLUME, "mountPath": store.data_path}]
    if store.init_files:
        mounts.append({"name": INIT_VOLUME, "mountPath": store.init_path, "readOnly": True})
    container["volumeMounts"] = mounts
    container.update(store.container_extras)
    # Stores run as their image's own non-root user, restricted-profile clean.
    container["securityContext"] = dict(RESTRICTED_SECURITY_CONTEXT)

    pod_spec: dict = {
        "securityContext": {
            "runAsUser": store.user,
            "runAsGroup": store.user,
            "fsGroup": store.user,
            "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
    }
    if store.init_files:
        pod_spec["volumes"] = [{"name": INIT_VOLUME, "configMap": {"name": init_config_map_name(store)}}]

    claim_spec: dict = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": stored.storage_size}},
    }
    if stored.storage_class is not None:
        claim_spec["storageClassName"] = stored.storage_class

    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": store.name, "namespace": ns, "labels": store_labels(store)},
        "spec": {
            "serviceName": store.headless_service,
            "replicas": 1,
            "selector": {"matchLabels": store_labels(store)},
            "persistentVolumeClaimRetentionPolicy": dict(RETAIN_CLAIMS),
            "template": {"metadata": {"labels": store_labels(store)}, "spec": pod_spec},
            "volumeClaimTemplates": [{"metadata": {"name": DATA_VOLUME}, "spec": claim_spec}],
        },
    }


def secret(ref: SecretKey, ns: str, value: Any) -> dict:
    """A Secret holding one config secret. `value` is passed through untouched (the
    program gives a Pulumi secret Output); stringData lets Kubernetes encode it."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": ref.secret, "namespace": ns},
        "type": "Opaque",
        "stringData": {ref.key: value},
    }


def store_shape(settings: Settings, store: Store) -> Store:
    """The store as this stack deploys it: with clusters, every store has a client
    (ClusterIP) Service, since a headless name resolves in its own cluster only."""
    if settings.multicluster is None or store.client_service:
        return store
    return dataclasses.replace(store, client_service=True)


def _reads_secret(settings: Settings, ref: SecretKey, stores: list[Store]) -> bool:
    """Whether a pod of these stores or of the versions deployed reads `ref`."""
    app = settings.app.application
    readers = [*(store.secret_env for store in stores),
               *(app.service(name).version(v).secret_env for name, deployed in settings.services.items()
                 for v in deployed.versions)]
    return any(used == ref for env in readers for _, used in env)


def store_objects(settings: Settings, secret_values: Mapping[str, Any], *, cluster: str | None = None) -> list[dict]:
    """The application's Secrets, then per store its Services, init ConfigMap and
    StatefulSet. `secret_values` maps each secret config key to its value. `cluster`:
    in a stack with clusters, what that cluster gets (`settings` narrowed to the
    versions placed there): the stores placed there whole, the others' client
    Service only, and a Secret where a pod reads it."""
    app: Application = settings.app.application
    ns = settings.app.namespace
    stores = [store_shape(settings, store) for store in app.stores]
    here = [store for store in stores
            if cluster is None or settings.multicluster.store_cluster(store.name) == cluster]
    objects = []
    for ref in app.secrets:
        if ref.config_key not in secret_values:
            raise KeyError(f"no value handed over for secret config key {ref.config_key}")
        if cluster is None or _reads_secret(settings, ref, here):
            objects.append(secret(ref, ns, secret_values[ref.config_key]))
    for store in stores:
        if store not in here:
            objects.append(client_service(store, ns))
            continue
        objects.append(headless_service(store, ns))
        if store.client_service:
            objects.append(client_service(store, ns))
        if store.init_files:
            objects.append(init_config_map(store, ns))
        objects.append(stateful_set(store, settings.stores[store.name], ns))
    return objects


def protected(settings: Settings, body: dict) -> bool:
    """Whether Pulumi must refuse to delete or replace this object: the StatefulSet of
    a store whose settings say protect."""
    if body.get("kind") != "StatefulSet":
        return False
    stored = settings.stores.get(body["metadata"]["name"])
    return stored is not None and stored.protect
