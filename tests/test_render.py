from dag.graph import build_graph
from dag.plan import Plan
from dag.render import to_dot, to_mermaid, to_png

PLAN = Plan.of([
    {"task": "openpose-control", "id": 0, "args": {"image": "e1.jpg"}},
    {"task": "openpose-text-to-image", "id": 1, "dep": [0],
     "args": {"text": 'an "astronaut"', "image": "<GENERATED>-0"}},
    {"task": "summarization", "id": 2, "args": {"text": "x"}},
    {"task": "text-to-speech", "id": 3, "dep": [2, 1], "args": {"text": "<GENERATED>-2"}},
])


def test_mermaid_shows_tasks_literal_args_and_labelled_edges():
    text = to_mermaid(build_graph(PLAN))
    assert text.startswith("graph TD\n")
    assert 't0["0: openpose-control<br/>image=e1.jpg"]' in text
    assert "#quot;astronaut#quot;" in text  # quotes escaped for Mermaid
    assert "t0 -->|image| t1" in text
    assert "t1 -.-> t3" in text  # order-only dependency is dashed


def test_dot_is_well_formed():
    text = to_dot(build_graph(PLAN))
    assert text.startswith('digraph "plan" {') and text.rstrip().endswith("}")
    assert 't1 [label="1: openpose-text-to-image\\ntext=an \\"astronaut\\""];' in text
    assert 't0 -> t1 [label="image"];' in text
    assert "t1 -> t3 [style=dashed];" in text


def test_png_is_a_real_picture(tmp_path):
    from PIL import Image

    path = to_png(build_graph(PLAN), tmp_path / "plan.png", title="four tasks")
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.width > 200 and image.height > 200
