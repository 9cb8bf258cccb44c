"""`meshplan rollout` behind the command: the plan (`plan`), the loop that applies,
judges and promotes or rolls back (`loop`), the step appliers (`apply`), the `pulumi`
CLI under the Automation API (`pulumi_cli`) and the metric source (`prometheus`)."""
