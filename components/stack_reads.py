"""The stacks the program reads, each through one StackReference however often it
is named: the engine refuses a second read of one stack ("Duplicate resource URN
...; try giving it a unique name"), as when a traffic stack's `mesh` and `app`
references name the same stack, or the rollout guard reads a stack the layer check
reads too. Cluster objects the program judges (the Gateway API CRDs a cluster admin
owns) are read here too, once each, under their own name."""
from __future__ import annotations

import pulumi


class StackReads:
    """One program run's StackReferences, by fully qualified stack name
    (`<org>/<project>/<stack>`): a reference is constructed on the first ask and
    shared by every later one."""

    def __init__(self) -> None:
        self._references: dict[str, pulumi.StackReference] = {}
        self._definitions: dict[str, pulumi.CustomResource] = {}

    def outputs(self, stack: str) -> pulumi.Output[dict]:
        """Every output of `stack`."""
        return self._reference(stack).outputs

    def output(self, stack: str, name: str) -> pulumi.Output:
        """One output of `stack` (None when it has no such output)."""
        return self._reference(stack).get_output(name)

    def custom_resource_definition(self, name: str) -> pulumi.CustomResource:
        """The cluster's CustomResourceDefinition `name`, read (not managed). The
        engine fails the read when the cluster has no such object."""
        if name not in self._definitions:
            # Imported here: only a stack that judges the cluster's CRDs pays for the module.
            from pulumi_kubernetes.apiextensions.v1 import CustomResourceDefinition

            self._definitions[name] = CustomResourceDefinition.get(name, name)
        return self._definitions[name]

    def _reference(self, stack: str) -> pulumi.StackReference:
        if stack not in self._references:
            self._references[stack] = pulumi.StackReference(stack)
        return self._references[stack]
