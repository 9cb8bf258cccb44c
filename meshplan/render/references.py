"""The outputs of the stacks a layered stack builds on, found offline: from
`pulumi stack output --json` files the user names (`--ref-outputs STACK=FILE`), or
else by rendering the referenced stack's own file when it is in the repository
(`Pulumi.<stack>.yaml` beside the stack file, or in the project)."""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Callable, Mapping

from model.errors import ConfigError
from model.safe_files import STATE, load_json_file
from model.names import PROJECT
from model.settings import Settings

RefFiles = Mapping[str, Path]
"""Stack name (short or fully qualified) → a `pulumi stack output --json` file."""


def _ref_file(item: str) -> tuple[str, Path]:
    stack, sep, file = item.partition("=")
    if not sep or not stack or not file:
        raise argparse.ArgumentTypeError(f"expected STACK=FILE, got {item!r}")
    return stack, Path(file)


class _CollectRefFiles(argparse.Action):
    """Each `--ref-outputs STACK=FILE` adds one entry to `args.ref_files` (never the shared default)."""

    def __call__(self, parser, namespace, value, option_string=None):
        stack, file = value
        setattr(namespace, self.dest, {**(getattr(namespace, self.dest) or {}), stack: file})


def add_option(parser: argparse.ArgumentParser) -> None:
    """`--ref-outputs STACK=FILE` (repeatable) → `args.ref_files`, a mapping."""
    parser.add_argument("--ref-outputs", dest="ref_files", action=_CollectRefFiles, type=_ref_file, default={},
                        metavar="STACK=FILE",
                        help="outputs of a referenced stack (short or fully qualified name), as "
                             "`pulumi stack output --json --stack STACK` prints them; default: render its "
                             "Pulumi.<stack>.yaml from the repository (repeatable)")


def read_output_file(path: Path) -> dict:
    """One `pulumi stack output --json` document: a mapping of output names to values."""
    document = load_json_file(str(path), STATE, what="the output of `pulumi stack output --json`",
                              missing="no such stack output file")
    if not isinstance(document, dict):
        raise ConfigError(file=str(path), path="", value=document,
                          message="expected a mapping of output names (`pulumi stack output --json`)")
    return document


def _given(ref_files: RefFiles, full_name: str) -> Path | None:
    short = full_name.rsplit("/", 1)[-1]
    return ref_files.get(full_name) or ref_files.get(short)


def _stack_file(full_name: str, search: tuple[Path, ...]) -> Path | None:
    _org, project, stack = full_name.split("/")
    if project != PROJECT:
        return None
    for directory in search:
        candidate = directory / f"Pulumi.{stack}.yaml"
        if candidate.is_file():
            return candidate
    return None


def reference_outputs(settings: Settings, *, search: tuple[Path, ...], ref_files: RefFiles,
                      render_outputs: Callable[[Path, str], dict], visiting: tuple[str, ...] = ()) -> dict[str, dict]:
    """Fully qualified stack name → its outputs, for every stack `settings` references.
    `render_outputs(file, stack)`: render a stack file and return its outputs;
    `visiting`: the stacks (short names) whose references are being resolved."""
    found: dict[str, dict] = {}
    for layer, full_name in settings.layers.stack_refs.items():
        given = _given(ref_files, full_name)
        if given is not None:
            found[full_name] = read_output_file(given)
            continue
        path = f"{PROJECT}:stackRefs.{layer}"
        if full_name.rsplit("/", 1)[-1] in visiting:
            raise ConfigError(file=settings.source, path=path, value=full_name,
                              message="stacks reference each other in a circle")
        stack_file = _stack_file(full_name, search)
        if stack_file is None:
            stack = full_name.rsplit("/", 1)[-1]
            raise ConfigError(file=settings.source, path=path, value=full_name,
                              message=f"no Pulumi.{stack}.yaml of {PROJECT} here to render; give "
                                      f"--ref-outputs {stack}=FILE with `pulumi stack output --json "
                                      f"--stack {full_name}`")
        found[full_name] = render_outputs(stack_file, full_name.rsplit("/", 1)[-1])
    return found


def search_path(source: str | os.PathLike, project_dir: Path) -> tuple[Path, ...]:
    """Where a referenced stack's file is looked for: beside the stack file, then the project."""
    here = Path(source).resolve().parent
    return tuple(dict.fromkeys((here, project_dir.resolve())))
