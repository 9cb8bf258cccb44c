"""Rendering a stack offline: the Pulumi program run under the SDK's mock monitor
(`engine`, through `sdk`, the one module touching SDK internals), what it registered
(`recording`), the outputs of the stacks a layered stack reads (`references`), and
the ways to print a render (`formats`)."""
