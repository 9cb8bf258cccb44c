"""Policies of the bookinfo-mesh pack, importable without starting a pack.

- `mesh-analysis` (stack, mandatory): the errors of `model.analysis` over the
  stack's Kubernetes objects, gateways taken from its Helm releases — the same rule
  the program and `meshplan check` apply. `mesh-analysis-warnings` (advisory) the rest.
  A stack spanning several clusters is judged per cluster: from its settings when its
  `Pulumi.<stack>.yaml` is beside the pack, else by the explicit Kubernetes provider
  each resource goes through (each provider's objects one cluster).
- `no-latest-images` (mandatory): every container image carries a tag other than
  `latest`, or a digest.
- `prod-pod-resources` and `prod-pod-security-context` (mandatory, prod only): every
  container requests cpu and memory and limits memory; every container runs with
  the restricted Pod Security Standard's context.
- `prod-mtls-not-disabled` (mandatory, prod only): no PeerAuthentication (or port of
  one) sets mTLS mode DISABLE.

Which environment: the policy config `environment` when set (`pulumi preview
--policy-pack ./policy --policy-pack-config policy-config.json`), else the stack tag
`environment`, else `bookinfo-mesh:environment` of the stack's own `Pulumi.<stack>.yaml`
beside the pack (stack name from the resource URN; unset means prod, as in the
settings), else, without such a file, the stack name: `dev*`, `test*` and `stag*` are
not prod, anything else is. A stack that does not say what it is gets the strict rules.

Every policy gets a resource's properties as pulumi_policy hands them: a read-only
Mapping whose lists are Sequences, secrets in plain text, raising when a value not
known during preview is read. They go to the analysis as they are (`model.bodies`):
a copy to dicts would read every unknown, wanted or not.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from pulumi_policy import (EnforcementLevel, PolicyConfigSchema, ReportViolation, ResourceValidationArgs,
                           ResourceValidationPolicy, StackValidationArgs, StackValidationPolicy)

from model.analysis import ERROR
from model.errors import ConfigError
from model.settings.parse_clusters import cluster_secret_keys
from model.names import HELM_RELEASE_TYPE, is_default_provider
from model.stack_analysis import analyze_stack
from model.settings import (DEFAULT_ENVIRONMENT, SECRET_KEYS, SECRET_SHOWN, SecretValue, Settings, parse_settings,
                            read_stack_file)

PROJECT_DIR = Path(__file__).resolve().parent.parent

NON_PROD_PREFIXES = ("dev", "test", "stag")
ENVIRONMENT_SCHEMA = PolicyConfigSchema(properties={
    "environment": {"type": "string", "enum": ["dev", "staging", "prod"],
                    "description": "Overrides the environment read from stack tags or the stack name."}})

# Pod-bearing kinds and where their pod spec lives.
POD_SPEC_PATHS: Mapping[str, tuple[str, ...]] = {
    "kubernetes:core/v1:Pod": ("spec",),
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
PEER_AUTHENTICATION_TYPES = ("kubernetes:security.istio.io/v1:PeerAuthentication",
                             "kubernetes:security.istio.io/v1beta1:PeerAuthentication")


# --------------------------------------------------------------------------- pure rules


def stack_of(urn: str) -> str:
    """`urn:pulumi:<stack>::<project>::...` → stack."""
    return urn.split("::", 1)[0].rsplit(":", 1)[-1] if urn.startswith("urn:pulumi:") else ""


@lru_cache(maxsize=None)
def stack_file_environment(stack: str, project_dir: Path = PROJECT_DIR) -> str | None:
    """`bookinfo-mesh:environment` of `Pulumi.<stack>.yaml`, the settings' default when
    unset; None when there is no readable stack file."""
    path = project_dir / f"Pulumi.{stack}.yaml"
    if not stack or not path.is_file():
        return None
    try:
        value = read_stack_file(str(path)).get("environment", DEFAULT_ENVIRONMENT)
    except ConfigError:
        return None
    return value if isinstance(value, str) else None


@lru_cache(maxsize=None)
def layered_settings(stack: str, project_dir: Path = PROJECT_DIR) -> Settings | None:
    """The settings of `Pulumi.<stack>.yaml` when it holds fewer than all layers (its
    objects are judged together with the rest of its environment) or spans several
    clusters (judged per cluster from its settings); else None."""
    path = project_dir / f"Pulumi.{stack}.yaml"
    if not stack or not path.is_file():
        return None
    try:
        # The pack never sees secret values; it only needs to know they are set.
        raw = read_stack_file(str(path))
        raw = {**{key: SecretValue(SECRET_SHOWN) for key in (*SECRET_KEYS, *cluster_secret_keys(raw))}, **raw}
        settings = parse_settings(raw, stack=stack, source=str(path))
    except ConfigError:
        return None
    return settings if settings.layers.layered or settings.multicluster is not None else None


def environment(config: Mapping[str, Any] | None, stack_tags: Mapping[str, str] | None, urn: str,
                project_dir: Path = PROJECT_DIR) -> str:
    chosen = (config or {}).get("environment") or (stack_tags or {}).get("environment")
    if chosen:
        return str(chosen)
    stack = stack_of(urn)
    from_file = stack_file_environment(stack, project_dir)
    if from_file is not None:
        return from_file
    name = stack.lower()
    if name.startswith("stag"):
        return "staging"
    return "dev" if name.startswith(NON_PROD_PREFIXES) else "prod"


def pod_spec(resource_type: str, props: Mapping) -> Mapping | None:
    path = POD_SPEC_PATHS.get(resource_type)
    if path is None:
        return None
    node: Any = props
    for key in path:
        node = (node or {}).get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else {}


def containers(spec: Mapping) -> list[Mapping]:
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]


def image_problem(image: str) -> str | None:
    """Why an image reference is not pinned, or None."""
    if "@" in image:
        return None  # a digest pins the image whatever the tag
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"image {image} has no tag (it means latest)"
    if last.rsplit(":", 1)[1] == "latest":
        return f"image {image} uses the latest tag"
    return None


def image_problems(spec: Mapping) -> list[str]:
    return [f"container {c.get('name')}: {problem}" for c in containers(spec)
            if (problem := image_problem(str(c.get("image") or ""))) is not None]


def resource_problems(spec: Mapping) -> list[str]:
    found = []
    for c in containers(spec):
        resources = c.get("resources") or {}
        missing = [f"requests.{k}" for k in ("cpu", "memory") if k not in (resources.get("requests") or {})]
        missing += [f"limits.{k}" for k in ("memory",) if k not in (resources.get("limits") or {})]
        if missing:
            found.append(f"container {c.get('name')}: no resources {', '.join(missing)}")
    return found


def security_context_problems(spec: Mapping) -> list[str]:
    """Departures from the restricted Pod Security Standard, per container (a pod
    level runAsNonRoot or seccompProfile counts for every container)."""
    pod = spec.get("securityContext") or {}
    found = []
    for c in containers(spec):
        ctx = c.get("securityContext") or {}
        missing = []
        if ctx.get("allowPrivilegeEscalation") is not False:
            missing.append("allowPrivilegeEscalation: false")
        if ctx.get("runAsNonRoot", pod.get("runAsNonRoot")) is not True:
            missing.append("runAsNonRoot: true")
        if "ALL" not in ((ctx.get("capabilities") or {}).get("drop") or []):
            missing.append("capabilities.drop: [ALL]")
        seccomp = (ctx.get("seccompProfile") or pod.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            missing.append("seccompProfile.type: RuntimeDefault")
        if missing:
            found.append(f"container {c.get('name')}: securityContext lacks {', '.join(missing)}")
    return found


def mtls_problems(props: Mapping) -> list[str]:
    spec = props.get("spec") or {}
    found = []
    if (spec.get("mtls") or {}).get("mode") == "DISABLE":
        found.append("mtls.mode is DISABLE")
    for port, setting in (spec.get("portLevelMtls") or {}).items():
        if (setting or {}).get("mode") == "DISABLE":
            found.append(f"portLevelMtls[{port}].mode is DISABLE")
    return found


# --------------------------------------------------------------------------- policies


KUBERNETES_TYPE_PREFIX = "kubernetes:"
def explicit_provider(resource) -> str | None:
    """The name of the provider the program gave `resource`, or None on a default
    provider (the engine hands a policy every resource's provider, a default one included)."""
    provider = resource.provider
    if provider is None or is_default_provider(provider.name):
        return None
    return provider.name


def _stack_findings(resources: Iterable) -> tuple[list, dict]:
    resources = list(resources)
    objects, urns = [], {}
    by_provider: dict[str | None, tuple[list, list]] = {}
    for r in resources:
        props = r.props or {}
        if "apiVersion" in props and "kind" in props:
            objects.append(props)
            metadata = props.get("metadata") or {}
            identity = (props["kind"], metadata.get("namespace") or "default", metadata.get("name"))
            # The same object on several clusters: which copy a finding is about is unknown,
            # so it is filed under the stack (the MC codes name the cluster).
            urns[identity] = None if identity in urns else r.urn
        if r.resource_type.startswith(KUBERNETES_TYPE_PREFIX):
            held = by_provider.setdefault(explicit_provider(r), ([], []))
            if r.resource_type == HELM_RELEASE_TYPE:
                held[1].append(props)
            elif "apiVersion" in props and "kind" in props:
                held[0].append(props)
    releases = [r.props for r in resources if r.resource_type == HELM_RELEASE_TYPE]
    layered = layered_settings(stack_of(resources[0].urn)) if resources else None
    registrations = [(r.name, r.resource_type, explicit_provider(r))
                     for r in resources if r.resource_type.startswith(KUBERNETES_TYPE_PREFIX)]
    if layered is not None and layered.multicluster is None:
        registrations = None
    # Without the stack's file, the providers say which objects share a cluster.
    findings = analyze_stack(layered, objects, releases, registrations=registrations,
                             by_provider=by_provider if layered is None else None)
    if layered is None or not layered.layers.layered:
        return findings, urns
    # A layered stack is judged with the environment's other objects (built from its
    # settings, as the program does): report only on what this stack registers.
    return [f for f in findings if (f.kind, f.namespace, f.name) in urns], urns


def _report_findings(args: StackValidationArgs, report_violation: ReportViolation, *, level_errors: bool) -> None:
    findings, urns = _stack_findings(args.resources)
    for finding in findings:
        if (finding.level == ERROR) == level_errors:
            report_violation(str(finding), urns.get((finding.kind, finding.namespace, finding.name)))


def validate_mesh_analysis(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    _report_findings(args, report_violation, level_errors=True)


def validate_mesh_analysis_warnings(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    _report_findings(args, report_violation, level_errors=False)


def validate_images(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    spec = pod_spec(args.resource_type, args.props)
    for problem in image_problems(spec or {}):
        report_violation(problem, None)


def _prod(args: ResourceValidationArgs) -> bool:
    return environment(args.get_config(), args.stack_tags, args.urn) == "prod"


def _prod_pod_rule(problems_of):
    """A resource policy that reports `problems_of(pod spec)` for workloads of prod stacks."""
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        spec = pod_spec(args.resource_type, args.props)
        if spec is None or not _prod(args):
            return
        for problem in problems_of(spec):
            report_violation(problem, None)
    return validate


validate_prod_resources = _prod_pod_rule(resource_problems)
validate_prod_security_context = _prod_pod_rule(security_context_problems)


def validate_prod_mtls(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in PEER_AUTHENTICATION_TYPES or not _prod(args):
        return
    for problem in mtls_problems(args.props):
        report_violation(problem, None)


POLICIES = [
    StackValidationPolicy(
        name="mesh-analysis",
        description="No analysis errors (model.analysis: unknown hosts, subsets, gateways, subsets without pods, ...).",
        validate=validate_mesh_analysis, enforcement_level=EnforcementLevel.MANDATORY),
    StackValidationPolicy(
        name="mesh-analysis-warnings",
        description="Analysis warnings (unused subsets without pods, unreachable rules, ...).",
        validate=validate_mesh_analysis_warnings, enforcement_level=EnforcementLevel.ADVISORY),
    ResourceValidationPolicy(
        name="no-latest-images",
        description="Container images carry a tag other than latest, or a digest.",
        validate=validate_images, enforcement_level=EnforcementLevel.MANDATORY),
    ResourceValidationPolicy(
        name="prod-pod-resources",
        description="In prod every container requests cpu and memory and limits memory.",
        validate=validate_prod_resources, enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=ENVIRONMENT_SCHEMA),
    ResourceValidationPolicy(
        name="prod-pod-security-context",
        description="In prod every container runs with the restricted Pod Security Standard's securityContext.",
        validate=validate_prod_security_context, enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=ENVIRONMENT_SCHEMA),
    ResourceValidationPolicy(
        name="prod-mtls-not-disabled",
        description="In prod no PeerAuthentication disables mTLS.",
        validate=validate_prod_mtls, enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=ENVIRONMENT_SCHEMA),
]
