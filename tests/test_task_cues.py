from orchestrator.task_cues import cues, named_tasks


def tasks(text):
    return [c.task for c in cues(text)]


def test_tasks_are_found_in_the_order_they_are_named():
    assert tasks("estimate the depth of each object, segment the image and then describe the picture") == [
        "depth-estimation", "image-segmentation", "image-to-text"]
    assert tasks("transcribe the recording and read the summary aloud") == [
        "automatic-speech-recognition", "summarization", "text-to-speech"]


def test_a_past_participle_names_an_earlier_result_not_a_new_step():
    assert tasks("identify the objects in the generated image") == ["object-detection"]
    assert "text-to-image" in tasks("generate an image of a red bicycle")


def test_a_cue_inside_a_longer_one_is_part_of_it():
    # "what category" alone would be image classification; here it is about the audio
    assert tasks("figure out what category this auditory file belongs to") == ["audio-classification"]


def test_a_file_described_is_not_a_step():
    assert tasks("I have a recorded conversation in the audio file") == []
    assert tasks("I took a picture of a car") == []


def test_questions_are_about_a_photo_a_document_or_a_text():
    about_text = named_tasks("answer the question from the text", set(), "answer the question from the text")
    assert [t for t, _ in about_text] == ["question-answering"]
    photo = named_tasks("answer my question", {"image"}, "I have a photo; answer my question")
    assert [t for t, _ in photo] == ["visual-question-answering"]
    scan = named_tasks("answer my question", {"image"}, "This scanned invoice: answer my question")
    assert [t for t, _ in scan] == ["document-question-answering"]


def test_a_table_needs_an_image_to_be_read_from():
    assert named_tasks("classify the table", set(), "classify the table") == []
    assert [t for t, _ in named_tasks("classify the table", {"image"}, "x")] == ["tabular-classification"]
