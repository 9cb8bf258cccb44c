"""`meshplan check`: the analyzers of `model.analysis` over a rendered stack or over
plain manifest files, like `istioctl analyze --use-kube=false`."""
from __future__ import annotations

from typing import Iterable, Sequence

import yaml

from meshplan.engine import Rendered
from model.analysis import Finding, GatewayWorkload, analyze, installed_gateways
from model.errors import ConfigError


def check_rendered(rendered: Rendered) -> list[Finding]:
    """Findings of a rendered stack; its gateways are the ones its Helm releases
    install (or the defaults when it installs none)."""
    return analyze(rendered.objects(), gateways=installed_gateways(r.inputs for r in rendered.releases()),
                   default_namespace=rendered.settings.app.namespace)


def load_manifests(paths: Iterable[str]) -> list[dict]:
    """Every object of every YAML document of the files (`kind: List` unpacked)."""
    objects: list[dict] = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as handle:
                documents = list(yaml.safe_load_all(handle))
        except FileNotFoundError:
            raise ConfigError(file=path, path="", message="no such file") from None
        except OSError as error:
            raise ConfigError(file=path, path="", message=f"cannot read ({error.strerror})") from None
        except yaml.YAMLError as error:
            problem = getattr(error, "problem", None) or str(error).splitlines()[0]
            raise ConfigError(file=path, path="", message=f"invalid YAML ({problem})") from None
        for number, document in enumerate(documents, 1):
            if document is None:
                continue
            if not isinstance(document, dict) or "kind" not in document:
                raise ConfigError(file=path, path=f"document {number}", message="not a Kubernetes object")
            if document["kind"] == "List":
                objects.extend(i for i in document.get("items") or [] if isinstance(i, dict))
            else:
                objects.append(document)
    return objects


def parse_gateway(text: str) -> GatewayWorkload:
    """`--gateway istio=ingress[,app=x][@namespace/service]`: a gateway workload
    running outside the files."""
    labels_text, _, where = text.partition("@")
    labels = {}
    for pair in labels_text.split(","):
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(file="--gateway", path="", value=text, message="expected labels like istio=ingressgateway")
        labels[key.strip()] = value.strip()
    namespace, _, service = (where or "istio-system/").partition("/")
    return GatewayWorkload(labels=labels, namespace=namespace or "istio-system", service=service or "gateway")


def check_manifests(paths: Sequence[str], *, namespace: str = "default",
                    gateways: Sequence[GatewayWorkload] | None = None) -> list[Finding]:
    return analyze(load_manifests(paths), gateways=gateways, default_namespace=namespace)
