"""`kubernetes:strictMode`, the one Kubernetes provider key the program judges.

The provider reads it from the stack config, not from a `Provider` argument
(pulumi-kubernetes `provider/pkg/provider/provider.go` `CheckConfig`: the string
`"true"` turns it on). In strict mode the provider refuses the default provider and
every `Provider` without both `kubeconfig` and `context`. A stack over clusters
gives each resource its cluster's provider; strict mode makes the provider refuse
one that slipped through to the default provider, which would deploy to whatever
cluster the local kubeconfig names. So:

- a stack with `clusters` whose providers read a kubeconfig (a secret or a stack
  output) needs strict mode on;
- a cluster read from a local kubeconfig context (`{context: NAME}`, dev only) has
  no kubeconfig to give its provider, which strict mode refuses: such a stack keeps
  strict mode off;
- a stack without `clusters` deploys through the default provider, which strict
  mode refuses."""
from __future__ import annotations

from typing import Any, Mapping

from model.errors import ConfigError
from model.settings.cluster_types import MultiClusterSettings

PROVIDER_NAMESPACE = "kubernetes"
STRICT_MODE = "strictMode"
STRICT_MODE_KEY = f"{PROVIDER_NAMESPACE}:{STRICT_MODE}"
STRICT_MODE_COMMAND = f"pulumi config set {STRICT_MODE_KEY} true"
_TRUTH = {"true": True, "false": False, True: True, False: False}


def provider_config_from_engine(config: Mapping[str, str]) -> dict[str, str]:
    """The `kubernetes:` keys of the config the engine hands the program, by name."""
    return {key.split(":", 1)[1]: value for key, value in config.items()
            if key.startswith(f"{PROVIDER_NAMESPACE}:")}


def strict_mode(provider_config: Mapping[str, Any], *, source: str) -> bool:
    """Whether the provider runs in strict mode: `"true"` (as `pulumi config set`
    writes it) or a YAML `true`; unset is off. Any other value the provider would
    read as off without a word, so it is refused."""
    value = provider_config.get(STRICT_MODE, False)
    if not isinstance(value, (str, bool)) or value not in _TRUTH:
        raise ConfigError(file=source, path=STRICT_MODE_KEY, value=value,
                          message='expected "true" or "false" (the provider turns strict mode on for "true" only)')
    return _TRUTH[value]


def check_strict_mode(provider_config: Mapping[str, Any], multicluster: MultiClusterSettings | None, *,
                      source: str) -> None:
    """Refuse, in one line, a stack whose providers the provider would refuse, or one
    over clusters that leaves a resource free to fall back to the default provider."""
    strict = strict_mode(provider_config, source=source)
    if multicluster is None:
        if strict:
            raise ConfigError(file=source, path=STRICT_MODE_KEY, value=provider_config[STRICT_MODE],
                              message="a stack without bookinfo-mesh:clusters deploys through the default provider, "
                                      "which strict mode refuses; unset it or list the cluster under "
                                      "bookinfo-mesh:clusters")
        return
    local = next((c for c in multicluster.clusters if c.kubeconfig.context), None)
    if local is not None:
        if strict:
            raise ConfigError(file=source, path=STRICT_MODE_KEY, value=provider_config[STRICT_MODE],
                              message=f"cluster {local.name} reads the local kubeconfig's context "
                                      f"{local.kubeconfig.context}, and strict mode requires a kubeconfig for each "
                                      f"provider; give it kubeconfig {{secret: ...}} or leave strict mode off")
        return
    if not strict:
        shown = {"value": provider_config[STRICT_MODE]} if STRICT_MODE in provider_config else {}
        raise ConfigError(file=source, path=STRICT_MODE_KEY, **shown,
                          message=("" if shown else "not set; ") + "a stack over clusters gives every resource its "
                                  "cluster's provider, and strict mode makes the provider refuse one without: "
                                  + STRICT_MODE_COMMAND)
