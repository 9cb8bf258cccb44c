"""`meshplan check`: the analyzers of `model.analysis` over a rendered stack or over
plain manifest files and directories, like `istioctl analyze --use-kube=false`."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Sequence

from meshplan.render.engine import Rendered
from model.analysis import Finding, GatewayWorkload, analyze
from model.analysis.gateways import HELM_GATEWAY_PORTS
from model.analysis.shapes import checked_object
from model.errors import ConfigError
from model.safe_files import MANIFEST, KindLines, load_yaml_file
from model.stack_analysis import analyze_stack

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


def check_rendered(rendered: Rendered, *, schemas=None) -> list[Finding]:
    """Findings of a rendered stack, judged as the program and the policy pack judge
    it (`model.stack_analysis`)."""
    return analyze_stack(rendered.settings, rendered.objects(), [r.inputs for r in rendered.releases()],
                         schemas=schemas, registrations=rendered.provider_clusters())


def manifest_files(paths: Iterable[str]) -> list[str]:
    """The files named, and the YAML/JSON files under each directory named (sorted)."""
    files: list[str] = []
    for path in paths:
        if Path(path).is_dir():
            found = sorted(str(p) for p in Path(path).rglob("*") if p.suffix in MANIFEST_SUFFIXES and p.is_file())
            if not found:
                raise ConfigError(file=path, path="", message="directory holds no .yaml, .yml or .json file")
            files.extend(found)
        else:
            files.append(path)
    return files


@dataclass(frozen=True)
class Located:
    """Where an object was read: its file and the 1-based line of its `kind:`."""

    file: str
    line: int | None


def load_manifests(paths: Iterable[str], *, located: list[Located] | None = None) -> list[dict]:
    """Every object of every YAML document of the files (`kind: List` unpacked); with
    `located`, where each object was read, in the same order."""
    objects: list[dict] = []
    for path in manifest_files(paths):
        marks: list[KindLines] = []
        documents = load_yaml_file(path, MANIFEST, kind_lines=marks)
        for number, (document, mark) in enumerate(zip(documents, marks), 1):
            if document is None:
                continue
            if not isinstance(document, dict) or "kind" not in document:
                raise ConfigError(file=path, path=f"document {number}", message="not a Kubernetes object")
            items = document.get("items") if document["kind"] == "List" else [document]
            if not isinstance(items, list):
                raise ConfigError(file=path, path=f"document {number}: items", value=items, message="expected a list")
            for index, item in enumerate(items):
                where = f"document {number}: items[{index}]" if document["kind"] == "List" else f"document {number}"
                objects.append(checked_object(item, file=path, where=where))
                if located is not None:
                    line = mark.document if document["kind"] != "List" else \
                        (mark.items[index] if index < len(mark.items) else None)
                    located.append(Located(path, line))
    return objects


def parse_gateway(text: str) -> GatewayWorkload:
    """`--gateway istio=ingress[,app=x][@namespace/service][:80,443]`: a gateway workload
    running outside the files. Without `:PORTS` its Service is assumed to have the
    gateway Helm chart's ports, and findings about ports say so."""
    rest, colon, ports_text = text.rpartition(":") if ":" in text else (text, "", "")
    ports: tuple[int, ...] = ()
    if colon:
        try:
            ports = tuple(int(p) for p in ports_text.split(",") if p.strip())
        except ValueError:
            ports = ()
        if not ports or any(not 0 < p < 65536 for p in ports):
            raise ConfigError(file="--gateway", path="", value=text, message="expected ports like :80,443 after the labels")
    labels_text, _, where = rest.partition("@")
    labels = {}
    for pair in labels_text.split(","):
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(file="--gateway", path="", value=text, message="expected labels like istio=ingressgateway")
        labels[key.strip()] = value.strip()
    namespace, _, service = (where or "istio-system/").partition("/")
    source = "given with --gateway" if ports else \
        f"given with --gateway, Service ports assumed {', '.join(map(str, HELM_GATEWAY_PORTS))} (add :PORTS to say)"
    return GatewayWorkload(labels=labels, namespace=namespace or "istio-system", service=service or "gateway",
                           ports=ports or HELM_GATEWAY_PORTS, source=source)


def check_manifests(paths: Sequence[str], *, namespace: str = "default",
                    gateways: Sequence[GatewayWorkload] | None = None, schemas=None) -> list[Finding]:
    """Findings about the objects of the files, each naming the file and line of the
    object it is about (the first, if the same object is in several)."""
    located: list[Located] = []
    objects = load_manifests(paths, located=located)
    where: dict[tuple[str, str, str], Located] = {}
    for obj, place in zip(objects, located):
        metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        kind, name = str(obj.get("kind", "")), str(metadata.get("name", ""))
        where.setdefault((kind, str(metadata.get("namespace") or namespace), name), place)
        where.setdefault((kind, "", name), place)  # a cluster-scoped object's findings name no namespace
    findings = analyze(objects, gateways=gateways, default_namespace=namespace, schemas=schemas)
    return [replace(f, file=place.file, line=place.line) if (place := where.get((f.kind, f.namespace, f.name)))
            else f for f in findings]
