"""meshplan: the project's own command line over the Pulumi program. It runs the
real program through the Pulumi SDK's mock monitor, offline, and works on what the
program registered: render, diff, check, rollout, rbac.

    __main__.py    `python -m meshplan` and the `meshplan` command
    project.py     which checkout it works on (the working directory's)
    cli.py         the command line: the commands' parsers, and main
    commands/      one module per command; shared.py: stack options, exit codes
    render/        the program run offline, what it registered, printed
    diff/          two states compared, and the difference printed
    rollout/       progressive delivery: plan, loop, appliers, pulumi CLI, Prometheus
    check.py       the analyzers over a render or over manifest files
    rbac.py        the RBAC a CI deployer of a stack needs
    interrupts.py  Ctrl-C and SIGTERM
"""
