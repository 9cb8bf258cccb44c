"""One module per `meshplan` command, each with its argparse wiring (`add_parser`)
and what it runs; what they share (the stack options, the exit codes) is
`meshplan.commands.shared`. `meshplan.cli` assembles them into the command line."""
