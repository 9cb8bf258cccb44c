"""The two multi-cluster example stacks (read from examples/multicluster/, their one
source), and their settings parsed in two parts: `parse_settings` for the
one-cluster keys, `parse_clusters` for the rest (as the model tests build plans)."""
from __future__ import annotations

from pathlib import Path

from model.settings import SecretValue, parse_settings
from model.names import SECRET_SHOWN

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "multicluster"
MULTI_PRIMARY_MULTI_NETWORK = (EXAMPLES / "multi-primary-multi-network.yaml").read_text(encoding="utf-8")
"""Two primaries on two networks, each with its own istiod and east-west gateway."""
PRIMARY_REMOTE_MULTI_NETWORK = (EXAMPLES / "primary-remote-multi-network.yaml").read_text(encoding="utf-8")
"""A primary and a remote on two networks: east's istiod configures west's proxies."""

def settings_of(text: str, *, source: str = "Pulumi.example.yaml", with_secrets: bool = True):
    """(Settings, MultiClusterSettings) of a stack text as the program parses it,
    its secret keys set (`with_secrets=False`: listed as not set, an offline parse)."""
    import yaml
    raw = {key.split(":", 1)[1]: value for key, value in yaml.safe_load(text)["config"].items()
           if key.startswith("bookinfo-mesh:")}
    if with_secrets:
        for cluster, body in raw["clusters"].items():
            raw[f"kubeconfig-{cluster}"] = SecretValue(SECRET_SHOWN)
            if body["role"] == "primary":
                raw[f"cacerts-{cluster}"] = SecretValue(SECRET_SHOWN)
    settings = parse_settings(raw, stack="example", source=source, unset_secrets_allowed=not with_secrets)
    return settings, settings.multicluster


def refused_run(raw: dict, *, source: Path) -> tuple[Exception, list[str]]:
    """(the one-line error, the types registered before it) of a run of the example
    `source` with `raw` as its project config, which the program must refuse."""
    import pytest

    from meshplan.render import sdk
    from meshplan.render.engine import run_program
    from model.errors import ConfigError

    settings = parse_settings(raw, stack="pr", source=str(source))
    records = []
    real = sdk.recording_monitor

    def recording(echo, captured):
        records.append(captured)
        return real(echo, captured)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sdk, "recording_monitor", recording)
        with pytest.raises(ConfigError) as refused:
            run_program(raw, settings=settings, stack="pr", source=str(source))
    return refused.value, [r["type"] for r in records[0].records if r["type"] != "pulumi:pulumi:Stack"]
