"""`python -m meshplan`, and the `meshplan` command (pyproject.toml's console
script): the command line, run on the working directory's project
(`meshplan.project`)."""
import os
import sys


def main() -> None:
    # First, before the imports that take most of a second (the Pulumi SDK, the
    # program): Ctrl-C from here on ends with the one line and exit 130, never with
    # a KeyboardInterrupt traceback out of some module being imported.
    from meshplan import interrupts

    with interrupts.handled():
        from meshplan.project import run_in_working_project

        run_in_working_project()
        from meshplan.cli import main as command_line

        code = command_line()
    # The Pulumi SDK leaves executor threads and event loops behind after a mock run;
    # tearing them down takes about 0.2 s and finalizes nothing meshplan needs (its
    # temporary worktrees are already removed), so leave at once once output is out.
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        pass
    os._exit(code)


if __name__ == "__main__":
    main()
