"""`python -m meshplan`, and the `meshplan` command (pyproject.toml's console
script): the command line, run on the working directory's project
(`meshplan.project`)."""
import os
import sys


def main() -> None:
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
