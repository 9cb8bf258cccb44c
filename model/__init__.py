"""Pure model of bookinfo-mesh: settings, application definitions, object builders
and analysis. Nothing in this package imports Pulumi, so every rule here is shared
by the Pulumi program, the `meshplan` command line and the policy pack."""
