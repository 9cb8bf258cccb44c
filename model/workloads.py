"""Builders for the application's Kubernetes objects: namespaces, Services,
ServiceAccounts, per-version ConfigMaps and Deployments, as plain dicts spelled as
the Kubernetes API spells them. Bookinfo's defaults reproduce `samples/bookinfo/platform/kube/bookinfo.yaml`
field for field, with the namespace made explicit."""
from __future__ import annotations

import hashlib
import json

from model.apps import SERVICE_ACCOUNT, Application, SecretKey, Service, Version, service_namespace
from model.settings import ResourceRequirements, Settings

# Kubernetes' "restricted" Pod Security Standard. Upstream bookinfo-psa.yaml drops
# "all" in lower case and sets no seccomp profile; the admission check compares
# against "ALL" literally and requires RuntimeDefault, so both are spelled as the
# standard wants them here.
RESTRICTED_SECURITY_CONTEXT = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def labels(service: str, version: str | None = None) -> dict[str, str]:
    """The routing contract, stated once: Deployment selectors, pod templates and
    DestinationRule subsets all select pods by these labels."""
    found = {"app": service}
    if version is not None:
        found["version"] = version
    return found


def subset_labels(version: str) -> dict[str, str]:
    """What a DestinationRule subset selects within its host's pods."""
    return {"version": version}


def injection_labels(revision: str) -> dict[str, str]:
    """Namespace labels that turn on sidecar injection for a control-plane revision.
    `istio-injection=enabled` works only for the default revision; a named revision is
    selected by `istio.io/rev` and the two labels must not be combined."""
    if revision:
        return {"istio.io/rev": revision}
    return {"istio-injection": "enabled"}


AMBIENT_LABELS = {"istio.io/dataplane-mode": "ambient"}
"""Enrols a namespace's pods in ambient mode (ztunnel); never combined with the
injection labels (istioctl analyze IST0123)."""
USE_WAYPOINT_LABEL = "istio.io/use-waypoint"


def mesh_labels(revision: str, *, ambient: bool = False, waypoint: str | None = None) -> dict[str, str]:
    """The labels that put a namespace in the mesh: sidecar injection, or ambient
    enrolment (plus the waypoint its L7 traffic goes through, when there is one)."""
    if not ambient:
        return injection_labels(revision)
    labels_found = dict(AMBIENT_LABELS)
    if waypoint:
        labels_found[USE_WAYPOINT_LABEL] = waypoint
    return labels_found


def namespace(name: str, revision: str, *, injected: bool = True, ambient: bool = False,
              waypoint: str | None = None) -> dict:
    """A namespace; `injected=False` keeps it outside the mesh (no sidecars, no ztunnel)."""
    metadata: dict = {"name": name}
    if injected:
        metadata["labels"] = mesh_labels(revision, ambient=ambient, waypoint=waypoint)
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}


def service(svc: Service, ns: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": svc.name, "namespace": ns, "labels": {**labels(svc.name), "service": svc.name}},
        "spec": {"ports": [{"port": svc.port, "name": svc.port_name}], "selector": labels(svc.name)},
    }


def service_account(svc: Service, ns: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": svc.account, "namespace": ns, "labels": {"account": svc.name}},
    }


def version_account(svc: Service, version: Version) -> str | None:
    """The ServiceAccount a version's pods run as (None: the namespace default)."""
    return svc.account if version.service_account == SERVICE_ACCOUNT else version.service_account


def own_account(svc: Service, version: Version, ns: str) -> dict | None:
    """A version-specific ServiceAccount (upstream's bookinfo-ratings-v2), if any."""
    account = version_account(svc, version)
    if account is None or account == svc.account:
        return None
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account, "namespace": ns}}


def deployment_name(service_name: str, version: str) -> str:
    return f"{service_name}-{version}"


def env_config_map_name(service_name: str, version: str) -> str:
    return f"{deployment_name(service_name, version)}-env"


def properties_config_map_name(service_name: str, version: str) -> str:
    return f"{deployment_name(service_name, version)}-properties"


def version_env(version: Version, settings: Settings) -> dict[str, str]:
    """What the version's env ConfigMap holds: its config, plus the tracing endpoint
    when the stack sets one."""
    spring = version.spring
    if spring is None:
        return {}
    env = dict(spring.config)
    if spring.tracing_env and settings.app.tracing_endpoint:
        env[spring.tracing_env] = settings.app.tracing_endpoint
    return env


def version_properties(version: Version) -> str:
    """application.properties of a Spring Boot version; empty for any other."""
    entries = version.spring.properties if version.spring is not None else ()
    return "".join(f"{key}={value}\n" for key, value in entries)


def config_maps(svc: Service, version: Version, settings: Settings) -> list[dict]:
    """The version's ConfigMaps: `<deployment>-env` (read with envFrom) and
    `<deployment>-properties` (application.properties, mounted as a directory)."""
    ns = service_namespace(svc, settings.app.namespace)
    found = []
    env = version_env(version, settings)
    if env:
        found.append(_config_map(env_config_map_name(svc.name, version.name), ns,
                                 labels(svc.name, version.name), env))
    if version_properties(version):
        found.append(_config_map(properties_config_map_name(svc.name, version.name), ns,
                                 labels(svc.name, version.name),
                                 {"application.properties": version_properties(version)}))
    return found


def _config_map(name: str, ns: str, object_labels: dict, data: dict) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": ns, "labels": dict(object_labels)},
            "data": dict(data)}


def config_hash(svc: Service, version: Version, settings: Settings) -> str:
    """A digest of the version's configuration. Kubernetes does not restart pods when
    a ConfigMap changes; carried as a pod annotation, a config change rolls them."""
    data = [m["data"] for m in config_maps(svc, version, settings)]
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


CONFIG_HASH_ANNOTATION = "bookinfo-mesh/config-hash"


def secret_env(pairs: tuple[tuple[str, SecretKey], ...]) -> list[dict]:
    """Environment variables read from Secrets: a secretKeyRef, never a literal."""
    return [{"name": name, "valueFrom": {"secretKeyRef": {"name": ref.secret, "key": ref.key}}}
            for name, ref in pairs]


def container_resources(settings: Settings, service_name: str, *, has_own: bool) -> ResourceRequirements | None:
    """Requests/limits for a service's containers: the service's config, else the
    app's config, else (only where the application states none) the environment's."""
    configured = settings.service(service_name).resources or settings.app.resources
    if configured is not None:
        return configured
    return None if has_own else settings.app.default_resources


def container(svc: Service, version: Version, settings: Settings) -> dict:
    """The version's one container: image, env, ports and mounts from the definition,
    then its extras, resources and (restricted pods) security context."""
    app = settings.app
    body: dict = {
        "name": svc.name,
        "image": f"{app.image_registry}/{version.image}:{app.image_tag}",
        "imagePullPolicy": "IfNotPresent",
    }
    if version.args:
        body["args"] = list(version.args)
    env = [{"name": k, "value": v} for k, v in version.env] + secret_env(version.secret_env)
    if env:
        body["env"] = env
    if version_env(version, settings):
        body["envFrom"] = [{"configMapRef": {"name": env_config_map_name(svc.name, version.name)}}]
    body["ports"] = [{"containerPort": svc.port}]
    mounts = [{"name": m.name, "mountPath": m.mount_path} for m in version.mounts]
    if version_properties(version):
        # A directory mount, not subPath: subPath mounts never see ConfigMap updates.
        # Spring Boot reads ./config/application.properties over the one in its jar.
        mounts.append({"name": "properties", "mountPath": version.spring.properties_dir, "readOnly": True})
    if mounts:
        body["volumeMounts"] = mounts
    body.update(version.container_extras)
    resources = container_resources(settings, svc.name, has_own="resources" in body)
    if resources is not None:
        body["resources"] = resources.as_kubernetes()
    if app.restricted_pods:
        body["securityContext"] = dict(RESTRICTED_SECURITY_CONTEXT)
    return body


def deployment(svc: Service, version: Version, settings: Settings, *, replicas: int) -> dict:
    app = settings.app
    pod_labels = labels(svc.name, version.name)
    template_metadata: dict = {}
    annotations = dict(version.annotations)
    if config_maps(svc, version, settings):
        annotations[CONFIG_HASH_ANNOTATION] = config_hash(svc, version, settings)
    if annotations:
        template_metadata["annotations"] = annotations
    template_metadata["labels"] = pod_labels

    pod_spec: dict = {}
    account = version_account(svc, version)
    if account:
        pod_spec["serviceAccountName"] = account
    pod_spec["containers"] = [container(svc, version, settings)]
    volumes = []
    if version.mounts:
        order = version.volume_order or tuple(m.name for m in version.mounts)
        volumes = [{"name": name, "emptyDir": {}} for name in order]
    if version_properties(version):
        volumes.append({"name": "properties", "configMap": {
            "name": properties_config_map_name(svc.name, version.name)}})
    if volumes:
        pod_spec["volumes"] = volumes

    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": deployment_name(svc.name, version.name),
                     "namespace": service_namespace(svc, app.namespace),
                     "labels": dict(pod_labels)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(pod_labels)},
            "template": {"metadata": template_metadata, "spec": pod_spec},
        },
    }


def namespaces(settings: Settings, *, waypoint: str | None = None) -> list[dict]:
    """The application namespace, then any namespace of its own a deployed service
    runs in; such a namespace is in the mesh unless it holds external services only.
    In ambient mode they are enrolled rather than injected; `waypoint`: the waypoint
    the mesh namespaces' L7 traffic goes through (none: L4 only)."""
    app: Application = settings.app.application
    ns = settings.app.namespace
    revision, ambient = settings.istio.revision, settings.ambient
    found = {ns: namespace(ns, revision, ambient=ambient, waypoint=waypoint)}
    for name in settings.services:
        svc = app.service(name)
        if svc.namespace and svc.namespace not in found:
            in_mesh = any(app.service(other).namespace == svc.namespace and not app.service(other).external
                          for other in settings.services)
            found[svc.namespace] = namespace(svc.namespace, revision, injected=in_mesh, ambient=ambient,
                                             waypoint=waypoint)
    return list(found.values())


def application_objects(settings: Settings, *, waypoint: str | None = None) -> list[dict]:
    """Every Kubernetes object of the application's services: namespaces first, then
    per service its Service, ServiceAccount, and per deployed version its ConfigMaps
    and Deployment. (Stateful stores and Secrets: `model.stores`.) `waypoint`: as
    for `namespaces`."""
    app: Application = settings.app.application
    objects = namespaces(settings, waypoint=waypoint)
    for name, deployed in settings.services.items():
        svc = app.service(name)
        ns = service_namespace(svc, settings.app.namespace)
        objects.append(service(svc, ns))
        if svc.account:
            objects.append(service_account(svc, ns))
        for version_name in deployed.versions:
            version = svc.version(version_name)
            account = own_account(svc, version, ns)
            if account is not None:
                objects.append(account)
            objects.extend(config_maps(svc, version, settings))
            objects.append(deployment(svc, version, settings, replicas=deployed.replicas))
    return objects
