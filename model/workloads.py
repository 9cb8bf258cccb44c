"""Builders for the application's Kubernetes objects: namespace, Services,
ServiceAccounts and Deployments, as plain dicts spelled as the Kubernetes API spells
them. Bookinfo's defaults reproduce `samples/bookinfo/platform/kube/bookinfo.yaml`
field for field, with the namespace made explicit."""
from __future__ import annotations

from model.apps import SERVICE_ACCOUNT, Application, Service, Version
from model.settings import Settings

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


def namespace(name: str, revision: str) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": injection_labels(revision)}}


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


def deployment(svc: Service, version: Version, settings: Settings, *, replicas: int) -> dict:
    app = settings.app
    container: dict = {
        "name": svc.name,
        "image": f"{app.image_registry}/{version.image}:{app.image_tag}",
        "imagePullPolicy": "IfNotPresent",
    }
    if version.args:
        container["args"] = list(version.args)
    if version.env:
        container["env"] = [{"name": k, "value": v} for k, v in version.env]
    container["ports"] = [{"containerPort": svc.port}]
    if version.mounts:
        container["volumeMounts"] = [{"name": m.name, "mountPath": m.mount_path} for m in version.mounts]
    container.update(version.container_extras)
    if app.restricted_pods:
        container["securityContext"] = dict(RESTRICTED_SECURITY_CONTEXT)

    pod_labels = labels(svc.name, version.name)
    template_metadata: dict = {}
    if version.annotations:
        template_metadata["annotations"] = dict(version.annotations)
    template_metadata["labels"] = pod_labels

    pod_spec: dict = {}
    account = version_account(svc, version)
    if account:
        pod_spec["serviceAccountName"] = account
    pod_spec["containers"] = [container]
    if version.mounts:
        order = version.volume_order or tuple(m.name for m in version.mounts)
        pod_spec["volumes"] = [{"name": name, "emptyDir": {}} for name in order]

    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": deployment_name(svc.name, version.name), "namespace": app.namespace,
                     "labels": dict(pod_labels)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(pod_labels)},
            "template": {"metadata": template_metadata, "spec": pod_spec},
        },
    }


def application_objects(settings: Settings) -> list[dict]:
    """Every Kubernetes object of the application, namespace first, then per service
    its Service, ServiceAccount and one Deployment per deployed version."""
    app: Application = settings.app.application
    ns = settings.app.namespace
    objects = [namespace(ns, settings.istio.revision)]
    for name, deployed in settings.services.items():
        svc = app.service(name)
        objects.append(service(svc, ns))
        if svc.account:
            objects.append(service_account(svc, ns))
        for version_name in deployed.versions:
            version = svc.version(version_name)
            account = own_account(svc, version, ns)
            if account is not None:
                objects.append(account)
            objects.append(deployment(svc, version, settings, replicas=deployed.replicas))
    return objects
