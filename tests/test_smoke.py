from tests.conftest import STACKS, render_stack


def test_every_stack_file_renders_with_resources():
    for stack in STACKS:
        rendered = render_stack(stack)
        # A single layer registers fewer (prod-mesh: its namespaces and three releases).
        assert len(rendered.resources) > (5 if rendered.settings.layers.layered else 10), stack
