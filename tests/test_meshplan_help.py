"""Each command's --help shows examples that work, its exit codes and what each
--format prints."""
from __future__ import annotations

import argparse
import re
import shlex

import pytest

from meshplan.cli import build_parser, main
from tests.conftest import ROOT

COMMANDS = ("render", "diff", "check", "rollout", "rbac")
# What the first example of each command's help exits with, run as shown.
FIRST_EXAMPLE_EXITS = {"render": 0, "diff": 2, "check": 0, "rollout": 0, "rbac": 0}


def subcommand(name: str) -> argparse.ArgumentParser:
    actions = build_parser()._subparsers._group_actions
    return next(a for a in actions if isinstance(a, argparse._SubParsersAction)).choices[name]


def help_text(name: str, capsys) -> str:
    with pytest.raises(SystemExit) as stopped:
        main([name, "--help"])
    assert stopped.value.code == 0
    return capsys.readouterr().out


def section(text: str, title: str) -> list[str]:
    lines = text.split(f"\n{title}:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    return [line.strip() for line in lines if line.strip()]


def examples(name: str, capsys) -> list[list[str]]:
    """Each example as argv, without its trailing comment or pipe."""
    return [shlex.split(line.split("  # ", 1)[0].split(" | ", 1)[0]) for line in section(help_text(name, capsys),
                                                                                            "examples")]


@pytest.mark.parametrize("name", COMMANDS)
def test_help_lists_exit_codes_0_1_and_130_and_2_for_diff(name, capsys):
    codes = [line.split()[0] for line in section(help_text(name, capsys), "exit codes")]
    assert codes == (["0", "2", "1", "130"] if name == "diff" else ["0", "1", "130"])


@pytest.mark.parametrize("name", COMMANDS)
def test_every_example_is_this_command_and_parses(name, capsys):
    found = examples(name, capsys)
    assert len(found) >= 2
    spelled = {option for action in subcommand(name)._actions for option in action.option_strings}
    for argv in found:
        assert argv[:2] == ["meshplan", name]
        # spelled out in full (argparse would also take an abbreviation), and parsed
        assert {token.split("=")[0] for token in argv if token.startswith("--")} <= spelled, argv
        build_parser().parse_args(argv[1:])  # a bad value ends the test with SystemExit


@pytest.mark.parametrize("name", COMMANDS)
def test_the_first_example_runs_offline_on_the_repository_and_exits_as_documented(name, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    argv = examples(name, capsys)[0]
    assert main(argv[1:]) == FIRST_EXAMPLE_EXITS[name]
    meaning = next(line for line in section(help_text(name, capsys), "exit codes")
                   if line.split()[0] == str(FIRST_EXAMPLE_EXITS[name]))
    assert meaning  # the code it exits with is one the help explains


@pytest.mark.parametrize("name", ("render", "diff", "check", "rollout"))
def test_format_says_what_each_choice_prints(name):
    [option] = [a for a in subcommand(name)._actions if "--format" in a.option_strings]
    assert option.help
    for choice in option.choices:
        assert re.search(rf"\b{choice}\b", option.help), (choice, option.help)
    assert f"default {option.default}" in option.help
