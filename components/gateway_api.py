"""The Kubernetes Gateway API CRDs a gateway-api stack routes with: installed from
the pinned release file (`gatewayApi.installCrds: true`), or read from the cluster
and judged (`false`: a cluster admin owns them), a verdict everything built on them
waits for (components/verdicts.py). The rule is `model.ambient.crd_mismatch`."""
from __future__ import annotations

import pulumi

from components.stack_reads import StackReads
from components.verdicts import Verdict
from model.ambient import GATEWAY_API_PROBE_CRD, crd_mismatch, gateway_api_crds_checked, gateway_api_crds_url
from model.settings import Settings

NOT_READ_OFFLINE = "not read (offline render: the cluster's CRDs are judged by pulumi preview and up)"


def install_gateway_api_crds(name: str, settings: Settings, opts: pulumi.ResourceOptions) -> pulumi.Resource | None:
    """The channel's install file of the pinned release, fetched by the provider at
    deploy time (never kept in the repository); protected and kept on delete like
    Istio's own CRDs when `istio.protectCrds` is on: deleting a CRD deletes every
    object of its kind."""
    url = gateway_api_crds_url(settings)
    if url is None:
        return None
    from pulumi_kubernetes.yaml.v2 import ConfigFile  # only gateway-api stacks pay for the module

    kept = settings.istio.protect_crds
    return ConfigFile(name, file=url, opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
        protect=True if kept else None, retain_on_delete=True if kept else None)))


def check_gateway_api_crds(settings: Settings, reads: StackReads) -> Verdict | None:
    """With `gatewayApi.installCrds: false`, read the cluster's HTTPRoute CRD and refuse
    one this stack cannot route with; None when the program installs the CRDs (or
    routes with Istio's API)."""
    if not gateway_api_crds_checked(settings):
        return None
    definition = reads.custom_resource_definition(GATEWAY_API_PROBE_CRD)

    async def judged() -> str:
        try:
            metadata = await definition.metadata.future()
        except Exception:  # noqa: BLE001 the engine failed the read: the cluster has no such CRD
            raise pulumi.RunError(str(crd_mismatch(settings, None))) from None
        if metadata is None:
            # Only the offline render's stand-in answers a read with no object at all.
            return NOT_READ_OFFLINE
        refused = crd_mismatch(settings, {"metadata": {"annotations": dict(metadata.get("annotations") or {})}})
        if refused is not None:
            raise pulumi.RunError(str(refused))
        return f"{GATEWAY_API_PROBE_CRD} fits Gateway API {settings.gateway_api.version} {settings.gateway_api.channel}"

    return Verdict(pulumi.Output.from_input(judged()))
