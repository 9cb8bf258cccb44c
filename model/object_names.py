"""Every name field of a rendered object checked against the Kubernetes rule for that
field (model/vocabulary.py), and the names the Istio charts derive from a Helm
release's name and values (the derived-name table there). The settings parser
refuses or shortens a value before it can get here, so a finding is a bug in a
builder: the tests walk every rendered stack and example with these."""
from __future__ import annotations

import re
from typing import Any, Iterator, Mapping

from model.vocabulary import (CONTAINER_NAME_RE, DNS_1035_LABEL_RE, DNS_LABEL_RE, DNS_SUBDOMAIN_RE,
                              HELM_RELEASE_RE, ISTIOD_SERVICE_PREFIX, LABEL_KEY_RE, LABEL_VALUE_RE, PORT_NAME_RE)

_RULES = {
    DNS_LABEL_RE: "a DNS-1123 label",
    DNS_SUBDOMAIN_RE: "a DNS-1123 subdomain",
    DNS_1035_LABEL_RE: "a DNS-1035 label",
    LABEL_KEY_RE: "a label key",
    LABEL_VALUE_RE: "a label value",
    PORT_NAME_RE: "an IANA_SVC_NAME port name",
    HELM_RELEASE_RE: "a Helm release name",
}
_NAME_OF_KIND = {"Service": DNS_1035_LABEL_RE, "Namespace": DNS_LABEL_RE}
"""The rule for metadata.name where it is not a DNS-1123 subdomain."""
_WORKLOADS = ("Deployment", "StatefulSet")


def name_problems(obj: Mapping[str, Any]) -> list[str]:
    """`<field> = <value>: not <rule>` for each name in a Kubernetes object that the
    API server would refuse."""
    return [f"{field} = {value!r}: not {_RULES[rule]}" for field, value, rule in _names(obj)
            if not isinstance(value, str) or not rule.match(value)]


def release_problems(name: str, chart: str, values: Mapping[str, Any]) -> list[str]:
    """A Helm release's name, and the names its Istio chart derives from it and from
    its values, each against the rule of the object that carries it."""
    derived: list[tuple[str, Any, re.Pattern]] = [("name", name, HELM_RELEASE_RE)]
    if chart == "gateway":  # Deployment, Service and labels app=/istio= named after the release
        derived += [("Service name (from the release name)", name, DNS_1035_LABEL_RE),
                    ("label app (from the release name)", name, LABEL_VALUE_RE)]
    revision = values.get("revision") or values.get("defaultRevision")
    if revision:
        derived.append(("label istio.io/rev (from values.revision)", revision, LABEL_VALUE_RE))
        if chart == "istiod":
            derived.append(("Service name (from values.revision)", f"{ISTIOD_SERVICE_PREFIX}{revision}",
                            DNS_1035_LABEL_RE))
    return [f"{field} = {value!r}: not {_RULES[rule]}" for field, value, rule in derived
            if not isinstance(value, str) or not rule.match(value)]


def _names(obj: Mapping[str, Any]) -> Iterator[tuple[str, Any, re.Pattern]]:
    kind = obj.get("kind", "")
    metadata = obj.get("metadata") or {}
    yield "metadata.name", metadata.get("name"), _NAME_OF_KIND.get(kind, DNS_SUBDOMAIN_RE)
    if "namespace" in metadata:
        yield "metadata.namespace", metadata["namespace"], DNS_LABEL_RE
    yield from _labels("metadata.labels", metadata.get("labels"))
    spec = obj.get("spec") or {}
    if kind == "Service":
        yield from _labels("spec.selector", spec.get("selector"))
        for i, port in enumerate(spec.get("ports") or ()):
            if "name" in port:
                yield f"spec.ports[{i}].name", port["name"], DNS_LABEL_RE
    elif kind in _WORKLOADS:
        yield from _labels("spec.selector.matchLabels", (spec.get("selector") or {}).get("matchLabels"))
        template = spec.get("template") or {}
        yield from _labels("spec.template.metadata.labels", (template.get("metadata") or {}).get("labels"))
        pod = template.get("spec") or {}
        for group in ("initContainers", "containers"):
            for i, container in enumerate(pod.get(group) or ()):
                at = f"spec.template.spec.{group}[{i}]"
                yield f"{at}.name", container.get("name"), CONTAINER_NAME_RE
                for j, port in enumerate(container.get("ports") or ()):
                    if "name" in port:
                        yield f"{at}.ports[{j}].name", port["name"], PORT_NAME_RE
        for i, volume in enumerate(pod.get("volumes") or ()):
            yield f"spec.template.spec.volumes[{i}].name", volume.get("name"), DNS_LABEL_RE


def _labels(where: str, labels: Mapping[str, Any] | None) -> Iterator[tuple[str, Any, re.Pattern]]:
    for key, value in (labels or {}).items():
        yield f"{where} key", key, LABEL_KEY_RE
        yield f"{where}.{key}", value, LABEL_VALUE_RE
