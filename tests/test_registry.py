from collections import Counter

from dag.registry import HUGGINGGPT_TASKS, REGISTRY, arg_modality, can_feed


def test_holds_hugginggpt_35_task_types_by_family():
    assert len(HUGGINGGPT_TASKS) == 35
    families = [REGISTRY[name].family for name in HUGGINGGPT_TASKS]
    assert families.count("huggingface") == 23
    assert families.count("control") == 5
    assert families.count("controlnet") == 7
    assert "openpose-control" in HUGGINGGPT_TASKS and "seg-text-to-image" in HUGGINGGPT_TASKS


def test_every_taskbench_tool_maps_both_ways_with_matching_modalities(tool_desc):
    tools = REGISTRY.taskbench_tools()
    assert set(tools) == set(tool_desc)
    for name, desc in tool_desc.items():
        task_type = REGISTRY[name]
        assert task_type.taskbench == name
        assert REGISTRY[task_type.id] is task_type
        required, accepted = Counter(task_type.inputs), Counter(task_type.inputs + task_type.optional)
        assert required <= Counter(desc["input-type"]) <= accepted, name
        produced = set(task_type.outputs)
        assert all(any(can_feed(out, m) for out in produced) for m in desc["output-type"]), name


def test_lookup_forgives_case_separators_and_aliases():
    for spelling in ("Image Classification", "image_classification", "IMAGE-CLASSIFICATION", "image classification"):
        assert REGISTRY[spelling].id == "image-classification"
    assert REGISTRY["asr"].id == "automatic-speech-recognition"
    assert REGISTRY.get("no such task") is None
    assert "Text-to-Speech" in REGISTRY and "teleport" not in REGISTRY


def test_suggests_nearest_names_for_misspellings():
    assert REGISTRY.suggest("image-clasification")[0] == "image-classification"
    assert REGISTRY.suggest("text to speach")[0] == "text-to-speech"


def test_argument_names_carry_modalities():
    assert REGISTRY["sentence-similarity"].arg_names == ("text", "text2")
    assert REGISTRY["visual-question-answering"].arg_names == ("image", "text")
    assert arg_modality("image2") == "image"
    assert arg_modality("context") == "text"
    assert arg_modality("colour") is None
    assert can_feed("structured", "text") and not can_feed("text", "image")
