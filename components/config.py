"""The edge where the Pulumi program reads its stack config: everything the engine
handed over is parsed once into `Settings`, or the run stops with the one-line
error before any resource is registered. Every secret leaf (the application's
secret config keys, the ingress TLS certificate and private key) is read here, as
a Pulumi secret Output, and its plaintext never enters `Settings`: the settings
hold only the mark that it is set as a secret (`SecretValue`).

A secret the stack file does not hold yet stops the run too, except inside
`unset_secrets_as_placeholders()`, which only meshplan's offline renders enter:
there it is registered as a secret Output that shows as not set. The choice is made
by the code that runs the program, for that run only; nothing in the process
environment or the stack config can make a `pulumi preview`/`up` take it."""
from __future__ import annotations

import contextlib
from contextvars import ContextVar
from typing import Callable, Iterator

import pulumi
from pulumi.runtime import config as runtime_config

from model.errors import ConfigError
from model.settings.cluster_types import TRUST_PROVIDED, layers_deploy_to
from model.multicluster.secrets import cacerts_bundle, kubeconfig_context
from model.settings.parse_clusters import CLUSTER_SECRET_PREFIXES, cacerts_key
from model.settings.parse_provider import provider_config_from_engine
from model.settings import (PROJECT, SECRET_NOT_SET_SHOWN, SECRET_SHOWN, Settings, from_engine_config, parse_settings,
                            secret_not_set)

_UNSET_SECRETS_AS_PLACEHOLDERS: ContextVar[bool] = ContextVar("bookinfo_mesh_unset_secrets_as_placeholders",
                                                              default=False)


@contextlib.contextmanager
def unset_secrets_as_placeholders() -> Iterator[None]:
    """Run the program with every secret its stack file lacks registered as a secret
    Output holding `[secret: not set]` (offline renders only)."""
    token = _UNSET_SECRETS_AS_PLACEHOLDERS.set(True)
    try:
        yield
    finally:
        _UNSET_SECRETS_AS_PLACEHOLDERS.reset(token)


def settings_from_engine() -> Settings:
    """The stack's settings, parsed from the config the engine handed the program."""
    stack = pulumi.get_stack()
    # The language host passes config in PULUMI_CONFIG; tests and meshplan set it
    # directly. Explicitly set values win, as in the SDK's own lookup.
    engine_config = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    from_language_host = set(runtime_config.get_config_secret_keys_env())
    secret_keys = {key for key in engine_config
                   if key in from_language_host or runtime_config.is_config_secret(key)}
    try:
        return parse_settings(from_engine_config(engine_config, secret_keys), stack=stack,
                              source=f"Pulumi.{stack}.yaml",
                              unset_secrets_allowed=_UNSET_SECRETS_AS_PLACEHOLDERS.get(),
                              provider_config=provider_config_from_engine(engine_config))
    except ConfigError as error:
        # RunError ends the program with its message alone, no traceback.
        raise pulumi.RunError(str(error)) from None


INGRESS_TLS_LEAVES = ("certificate", "privateKey")
"""The secret leaves of the structured `ingress` key, under `ingress.tls`."""


def load_secrets(settings: Settings) -> dict[str, pulumi.Output[str]]:
    """Every secret leaf the program registers, by its config key path
    (`databasePassword`, `ingress.tls.privateKey`), as a secret Output: the one way
    a secret value reaches a resource (the settings parser has checked which are set)."""
    config = pulumi.Config(PROJECT)
    values = {}
    for ref in settings.app.application.secrets:
        key = ref.config_key
        if key not in settings.secrets_not_set:
            values[key] = config.require_secret(key)
        elif _UNSET_SECRETS_AS_PLACEHOLDERS.get():
            # A secret even so: the stand-in is masked like any secret wherever it goes.
            values[key] = pulumi.Output.secret(SECRET_NOT_SET_SHOWN)
        else:
            # Settings parsed for an offline render, handed to a run that deploys.
            raise pulumi.RunError(str(secret_not_set(key, stack=settings.stack, source=settings.source)))
    tls = settings.ingress.tls
    if tls is not None and tls.certificate is not None:
        # The engine hands `ingress` over decrypted as one JSON value; read as a
        # secret object, every value taken from it stays secret.
        ingress = config.require_secret_object("ingress")
        for leaf in INGRESS_TLS_LEAVES:
            values[f"ingress.tls.{leaf}"] = ingress.apply(lambda value, leaf=leaf: value["tls"][leaf])
    return values


def load_cluster_secrets(settings: Settings) -> dict[str, pulumi.Output[str]]:
    """The secret keys a multi-cluster stack names (each cluster's kubeconfig key,
    each primary's `cacerts-<cluster>`), by key, as secret Outputs; a key not set
    shows as not set in an offline render and stops any other run."""
    mc = settings.multicluster
    if mc is None:
        return {}
    config = pulumi.Config(PROJECT)
    holds = settings.layers.holds
    keys = [c.kubeconfig.secret for c in mc.clusters if c.kubeconfig.secret and layers_deploy_to(c.role, holds)]
    if mc.mesh.trust_mode == TRUST_PROVIDED and holds("mesh"):
        keys += [cacerts_key(c.name) for c in mc.primaries]
    values = {}
    for key in keys:
        if key not in mc.secrets_not_set:
            # A bundle istiod would fail on, or a kubeconfig its provider cannot take a
            # context from (strict mode requires one).
            _check_plaintext(config, key, settings, cacerts_bundle if key.startswith(CLUSTER_SECRET_PREFIXES[1])
                             else kubeconfig_context)
            values[key] = config.require_secret(key)
        elif _UNSET_SECRETS_AS_PLACEHOLDERS.get():
            values[key] = pulumi.Output.secret(SECRET_NOT_SET_SHOWN)
        else:
            raise pulumi.RunError(str(secret_not_set(key, stack=settings.stack, source=settings.source)))
    return values


def _check_plaintext(config: pulumi.Config, key: str, settings: Settings,
                     check: Callable[..., object]) -> None:
    """A secret's plaintext the program could not use stops the run here, in one line
    naming the key, before anything is registered (inside an apply it would surface
    mid-update). The plaintext is read only to check it; `check` never echoes it."""
    text = config.require(key)
    if text == SECRET_SHOWN:  # an offline render's stand-in for a value it cannot decrypt
        return
    try:
        check(text, file=settings.source, path=f"{PROJECT}:{key}")
    except ConfigError as error:
        raise pulumi.RunError(str(error)) from None
