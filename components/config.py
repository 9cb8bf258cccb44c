"""The edge where the Pulumi program reads its stack config: everything the engine
handed over is parsed once into `Settings`, or the run stops with the one-line
error before any resource is registered. Secret config values are read here too,
as Pulumi secret Outputs, and never enter `Settings`."""
from __future__ import annotations

import pulumi
from pulumi.runtime import config as runtime_config

from model.errors import ConfigError
from model.settings import PROJECT, Settings, from_engine_config, parse_settings


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
                              source=f"Pulumi.{stack}.yaml")
    except ConfigError as error:
        # RunError ends the program with its message alone, no traceback.
        raise pulumi.RunError(str(error)) from None


def load_secrets(settings: Settings) -> dict[str, pulumi.Output[str]]:
    """The secret config values the application needs, by key, as secret Outputs
    (already checked present by the settings parser)."""
    config = pulumi.Config(PROJECT)
    return {ref.config_key: config.require_secret(ref.config_key)
            for ref in settings.app.application.secrets}
