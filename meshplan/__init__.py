"""meshplan: the project's own command line over the Pulumi program. It runs the
real program through the Pulumi SDK's mock monitor, offline, and works on what the
program registered: render, diff, check."""
