"""ComponentResources: each registers what a `model` builder produced, as one unit
an operator thinks of (the mesh install, the workloads, the routing), and wires
the order between them."""
