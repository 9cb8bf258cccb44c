from tests.conftest import STACKS, render_stack


def test_every_stack_file_renders_with_resources():
    for stack in STACKS:
        assert len(render_stack(stack).resources) > 10, stack
