"""Render a stack: read its config, then run the Pulumi program in-process under the
SDK's mock monitor (through `meshplan.render.sdk`) and keep what it registered
(`meshplan.render.recording`).

The mock monitor answers every registration with the inputs as outputs, so the
program runs exactly as under `pulumi up` with nothing sent anywhere."""
from __future__ import annotations

import contextlib
import io
import json
import os
import runpy
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

from meshplan.project import REPOSITORY
from meshplan.render.recording import SECRET_SHOWN, Rendered, plain, registrations_of
from components.check_enforcement import findings_left_to_caller
from model.errors import ConfigError
from model.layers import reference_mismatch
from model.settings import PROJECT, SecretValue, Settings, parse_settings, read_stack_config
from model.settings.parse_provider import PROVIDER_NAMESPACE

PROJECT_DIR = REPOSITORY  # the working directory's checkout: meshplan runs that checkout's own code

def stack_file(stack: str, project_dir: Path = PROJECT_DIR) -> Path:
    return project_dir / f"Pulumi.{stack}.yaml"


def shown_path(path: Path) -> Path:
    """The path as a user would type it: relative to the working directory if inside it."""
    try:
        return path.resolve().relative_to(Path.cwd())
    except ValueError:
        return path


def read_stack_settings(config_file: str | os.PathLike, stack: str) -> tuple[Settings, dict, dict]:
    """Settings, the raw project config and the provider's keys of a stack file;
    ConfigError if bad. A secret the file does not hold yet is no error offline: the
    render shows it as not set (`Settings.secrets_not_set`)."""
    raw, provider = read_stack_config(str(config_file))
    return parse_settings(raw, stack=stack, source=str(config_file), unset_secrets_allowed=True), raw, provider


def render(config_file: str | os.PathLike, *, stack: str | None = None,
           project_dir: Path = PROJECT_DIR, preview: bool = False,
           previous_outputs: dict | None = None, ref_files: Mapping[str, Path] | None = None,
           cluster_objects: Mapping[str, dict | None] | None = None) -> Rendered:
    """Render one stack: validate its config, then run the program under mocks.
    `ref_files`: `pulumi stack output --json` files of referenced stacks, by name;
    `cluster_objects`: as for `run_program`."""
    config_path = Path(config_file)
    stack = stack or config_path.stem.removeprefix("Pulumi.")
    config_path = shown_path(config_path)
    settings, raw, provider = read_stack_settings(config_path, stack)
    return run_program(raw, settings=settings, stack=stack, source=str(config_path),
                       project_dir=project_dir, preview=preview, previous_outputs=previous_outputs,
                       ref_files=ref_files, cluster_objects=cluster_objects, provider_config=provider)


def referenced_outputs(settings: Settings, source: str, *, project_dir: Path = PROJECT_DIR,
                       ref_files: Mapping[str, Path] | None = None,
                       visiting: tuple[str, ...] = ()) -> dict[str, dict]:
    """The outputs of every stack `settings` references (`meshplan.render.references`): a
    referenced stack file in the repository is rendered, recursively."""
    from meshplan.render.references import reference_outputs, search_path

    chain = (*visiting, settings.stack)

    def render_outputs(path: Path, stack: str) -> dict:
        referenced, raw, provider = read_stack_settings(shown_path(path), stack)
        below = referenced_outputs(referenced, str(path), project_dir=project_dir, ref_files=ref_files,
                                   visiting=chain)
        return run_program(raw, settings=referenced, stack=stack, source=str(shown_path(path)),
                           project_dir=project_dir, reference_outputs=below,
                           provider_config=provider).outputs

    return reference_outputs(settings, search=search_path(source, project_dir), ref_files=ref_files or {},
                             render_outputs=render_outputs, visiting=chain)


def run_program(raw_config: dict, *, settings: Settings, stack: str, source: str,
                project_dir: Path = PROJECT_DIR, preview: bool = False,
                previous_outputs: dict | None = None, report_only: bool = True,
                reference_outputs: dict[str, dict] | None = None,
                ref_files: Mapping[str, Path] | None = None,
                cluster_objects: Mapping[str, dict | None] | None = None,
                provider_config: Mapping[str, Any] | None = None) -> Rendered:
    """Run the program under mocks; one function of a little over a screen because
    the mocks it installs close over this run's recording. `previous_outputs`: what a StackReference (the
    program's reference to its own last deployment) reads; none by default.
    `reference_outputs`: the outputs of the stacks a layered stack builds on, by fully
    qualified name; found from `ref_files` and the repository when not given.
    `report_only`: let the program's analyzers report instead of failing the run.
    `cluster_objects`: a stand-in for the cluster the program reads objects from (ID →
    object, None: absent); by default nothing is read offline. `provider_config`:
    the stack's `kubernetes:` keys; by default those of the stack file `source`."""
    import pulumi

    from components.config import unset_secrets_as_placeholders
    from meshplan.render import sdk

    if reference_outputs is None and settings.layers.stack_refs:
        reference_outputs = referenced_outputs(settings, source, project_dir=project_dir, ref_files=ref_files)
    if settings.layers.stack_refs:
        # The program's own rule, judged here first so the error names the file read.
        refused = reference_mismatch(replace(settings, source=source), reference_outputs)
        if refused is not None:
            raise refused

    captured = sdk.Captured(records=[], reads=[])
    outputs: dict = {}
    engine_config, secret_keys = {}, []
    for key, value in raw_config.items():
        full_key = f"{PROJECT}:{key}"
        engine_config[full_key] = value if isinstance(value, str) else json.dumps(value)
        if _contains_secret(value):
            secret_keys.append(full_key)
    # The provider's own keys reach the program as the engine hands them over: the
    # program judges `kubernetes:strictMode` with the clusters.
    if provider_config is None:
        provider_config = read_stack_config(source)[1] if Path(source).is_file() else {}
    for name, value in provider_config.items():
        engine_config[f"{PROVIDER_NAMESPACE}:{name}"] = value if isinstance(value, str) else json.dumps(value)

    echo = sdk.echo_mocks(previous_outputs, reference_outputs, cluster_objects)
    sdk.start_mocks(echo, project=PROJECT, stack=stack, preview=preview,
                    monitor=sdk.recording_monitor(echo, captured),
                    config=engine_config, secret_keys=secret_keys)

    main = project_dir / "__main__.py"
    added = str(project_dir) not in sys.path
    if added:
        sys.path.insert(0, str(project_dir))

    def program():
        runpy.run_path(str(main), run_name="__main__")
        exports = sdk.root_exports()
        collected = [
            pulumi.Output.all(pulumi.Output.from_input(value), pulumi.Output.from_input(value).is_secret())
            .apply(lambda pair, key=key: outputs.__setitem__(key, SECRET_SHOWN if pair[1] else pair[0]))
            for key, value in exports.items()
        ]
        return pulumi.Output.all(*collected)

    try:
        with contextlib.redirect_stdout(io.StringIO()), sdk.offline_registration(), \
                findings_left_to_caller(report_only), unset_secrets_as_placeholders():
            sdk.run_test_program(program)
    except pulumi.RunError as error:
        # The program names its stack file as the engine knows it (`Pulumi.<stack>.yaml`);
        # the error names the file meshplan read instead, once.
        message = str(error).removeprefix(f"Pulumi.{stack}.yaml: ")
        raise ConfigError(file=source, path="", message=message) from None
    finally:
        if added:
            sys.path.remove(str(project_dir))
    return Rendered(project=PROJECT, stack=stack, source=source, settings=settings,
                    resources=registrations_of(captured.records), outputs=plain(outputs),
                    reads=sorted(captured.reads, key=lambda read: read["urn"]))


def _contains_secret(value: Any) -> bool:
    if isinstance(value, SecretValue):
        return True
    if isinstance(value, dict):
        return any(_contains_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_secret(v) for v in value)
    return False
