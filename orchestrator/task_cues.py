"""How people ask for each task: phrase patterns that name a task in a request, for the embedded planner.

Sentence embeddings tell "transcribe the recording" from "draw a cat", but not "estimate the depth" from
"segment the image" inside one long request, nor a file's description ("an audio file of my lecture") from
a step. These patterns say it directly: each task has the verbs and nouns people use for it ("transcribe",
"into written text"; "how far away"; "bounding boxes"). A few tasks are told apart by what the request is
about: a question is visual question answering about a photo, document question answering about a
scanned document, and question answering about a text.

The patterns were written from the task descriptions and from the bank half of TaskBench's Hugging Face dev
set (seed 0); the other half is what ``benchmarks/planner_learning.py`` scores, and was not read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_IMG = r"(?:image|picture|photo(?:graph)?|pic|snapshot|shot|scan)"
GAP = r"(?:(?!(?:from|into|to|of|for|with|based|on)\b)\w+ ){0,4}"
"""Up to four words, none of them a preposition: "generate a short audio clip", not "a video from this text"."""
_MAKE = (r"(?:generat\w*|creat\w*|draw\w*|mak\w*(?! (?:this|that|the|it)\b)|produc\w*|design\w*|paint\w*|"
         r"illustrat\w*|render\w*|conjur\w*|craft\w*|sketch\w*|depict\w*)")
_COLOUR = r"(?:blue|red|green|yellow|orange|white|black|purple|pink|gr[ae]y|golden|brown)"
_LANGUAGE = r"(?:english|french|german|spanish|italian|portuguese|chinese|japanese|korean|russian|arabic|dutch|hindi)"

CUES: dict[str, tuple[str, ...]] = {
    "automatic-speech-recognition": (
        r"transcri\w*", r"speech[- ]to[- ]text", r"speech recognition", r"making out the words",
        r"(?:audio|speech|recording|voice|spoken)\w* (?:\w+ ){0,3}(?:in)?to (?:\w+ )?(?:written )?"
        r"(?:text|words|transcript)", r"what (?:is|was) (?:being )?said", r"dictat\w*",
        r"what (?:the speaker|they|he|she|people) (?:is|are|was|were) (?:saying|talking about)",
        r"written (?:text|form|format|record)\b(?=.*\baudio\b)"),
    "text-to-speech": (
        r"text[- ]to[- ]speech", r"\baloud\b", r"out loud", r"read (?:it |this |them )?out\b", r"voice[- ]?over",
        r"(?:in)?to (?:an? |natural\w* |expressive |spoken |audible |\w+[- ]sounding |high[- ]quality |clear )*"
        r"(?:speech|voice|narration)\b",
        r"(?:an?|the) audio (?:version|message|format|narration|scrip\w*|description|presentation|recording of)",
        r"\bnarrat\w*", r"audibl\w*", r"\bspeak\w* (?:it|this|the)", r"verbal description", r"auditory",
        rf"(?:generat\w*|creat\w*|produc\w*|mak\w*|synthesi[sz]\w*) {GAP}(?:speech|audio|voice)(?! file named)",
        r"(?:in)?to spoken", r"vocali[sz]\w*", r"hear (?:it|this|the)"),
    "audio-to-audio": (
        r"(?:enhanc\w*|improv\w*|clean\w*|clarif\w*|clear\w* up|boost\w*|better\w*|restor\w*) (?:\w+ ){0,4}"
        r"(?:audio|sound|recording|speech|voice|clarity|quality)(?!.*\b(?:image|picture|photo)\b)",
        r"\bnois[ey]\b", r"denois\w*", r"separat\w* (?:\w+ ){0,3}(?:speakers?|voices?|sources?|part|vocals)",
        r"(?:audio|sound) (?:quality|clarity|enhancement)", r"extract (?:\w+ ){0,3}speaker", r"\becho\b", r"\bhiss\b",
        r"\bstatic\b", r"audio[- ]to[- ]audio"),
    "audio-classification": (
        r"(?:classif\w*|categori[sz]\w*|identif\w*|recogni[sz]\w*|detect\w*|figur\w* out|determin\w*) (?:\w+ ){0,5}"
        r"(?:emotions?|commands?|sounds?|genre|speakers? emotion|the audio|this audio|the recording|auditory|mood)",
        r"emotions? (?:in|of|from) (?:\w+ ){0,3}(?:voice|audio|speech|recording|speaker)",
        r"what (?:kind of |type of )?sound", r"category (?:\w+ ){0,3}(?:audio|auditory|sound)",
        r"audio classification", r"(?:genre|mood) of"),
    "image-classification": (
        r"(?:classif\w*|categori[sz]\w*) (?:\w+ ){0,4}(?:image|picture|photo|it|this)\b(?! into a table)",
        r"(?:which|what) (?:class|category)", r"category of", r"what (?:it|this) (?:represents|is)\b",
        r"what'?s? (?:is )?in (?:the|this|it)\b(?! (?:table|document))", r"identify (?:what|the subject|the main)",
        r"(?:recogni[sz]\w*|identif\w*) (?:\w+ ){0,2}(?:landmark|species|breed|animal|subject)",
        r"what (?:\w+ ){0,2}(?:image|picture|photo) (?:shows|depicts|represents|contains)",
        r"what (?:kind|type|sort) of (?:\w+ ){0,2}(?:is|are) (?:in|this|it)", r"image classification"),
    "object-detection": (
        r"object detection", r"\bdetect(?:s|ing|ion)?\b(?! (?:the )?(?:language|emotion|sentiment|mood))",
        r"bounding box\w*", r"\blocat(?:e|ing) (?:\w+ ){0,3}(?:each|every|all|the)",
        r"\b(?:identif\w*|locat\w*|find\w*|label\w*|spot\w*|recogni[sz]\w*|list\w*|annotat\w*|tag\w*|count\w*) "
        r"(?:\w+ ){0,4}(?:objects?|items?|elements?|things|components|cars|animals|vehicles)\b"),
    "image-segmentation": (
        r"segment\w*", r"isolat\w*", r"separat\w* (?:\w+ ){0,3}(?:objects?|elements?|regions?|background|parts|items)",
        r"dissect\w*", r"(?:divid\w*|split\w*|partition\w*) (?:it|the image|the picture|this image) into",
        r"masks? (?:for|of) each", r"cut (?:\w+ )?out", r"outline (?:each|every|the objects)"),
    "depth-estimation": (r"\bdepths?\b", r"how far", r"distances?\b", r"3d effect", r"three[- ]dimensional"),
    "image-to-text": (
        r"caption\w*", r"describ\w* (?:\w+ ){0,3}(?:image|picture|photo|scene|it)\b",
        r"description of (?:\w+ ){0,2}(?:image|picture|photo|it)", rf"text (?:in|on|from|within) (?:\w+ ){{0,2}}{_IMG}",
        r"(?:extract|read|decipher|decod|recogni[sz]|pull|get)\w* (?:\w+ ){0,3}(?:text|words|writing|inscriptions?)",
        r"inscriptions?", r"\bocr\b", rf"(?:in)?to (?:\w+ )?(?:written )?(?:words|text|description)(?=.*\b{_IMG})",
        r"descriptive text", r"what (?:does|do) (?:the|this) (?:sign|text|label)", r"image[- ]to[- ]text",
        r"textual description"),
    "text-to-image": (
        rf"{_MAKE} {GAP}(?:image|picture|illustration|visual\w*|artwork|drawing|poster|thumbnail|graphic|"
        r"painting|photo|art\b|logo|portrait)", r"text[- ]to[- ]image", r"visuali[sz](?:e|ing)\b",
        r"\billustrat(?:e|ing)\b", r"(?:in)?to (?:a|an) (?:\w+ )?(?:image|picture|illustration)\b",
        r"\ban? (?:\w+ )?(?:image|picture|illustration|visual) (?:for|that (?:represents|reflects|captures|"
        r"depicts|illustrates|encapsulates))"),
    "image-to-image": (
        rf"(?:transform|convert|turn|restyl|styli[sz])\w* (?:\w+ )?{_IMG}s? (?:\w+ ){{0,3}}(?:into|to look|in the "
        r"style|to resemble|as if|to a)(?! (?:\w+ ){0,3}(?:video|audio|speech|text|words|table))",
        r"style (?:of|transfer)", r"as if it (?:was|were)", r"artsy", r"coloriz\w*", r"super[- ]resolution",
        rf"(?:enhanc|improv|upscal|sharpen|clarif|restor)\w* (?:\w+ ){{0,3}}{_IMG}",
        rf"(?:clarity|quality|resolution|sharpness) of (?:\w+ ){{0,2}}{_IMG}", r"image[- ]to[- ]image",
        r"(?:artistic|cartoon|sketch|painting|watercolou?r|vintage|anime) (?:style|look|version|effect)",
        r"ambien\w*"),
    "image-editing": (
        r"(?:edit\w*|modif\w*|chang\w*|alter\w*|tweak\w*|adjust\w*|manipulat\w*|recolou?r\w*|replac\w*|remov\w*|"
        r"add\w*|updat\w*|paint\w*) (?:\w+ ){0,5}(?:image|picture|photo|colou?r|background(?! noise)|sky|car|house|"
        r"object)", rf"\b(?:mak|paint|turn|colou?r|chang)\w* (?:\w+ ){{0,5}}{_COLOUR}\b",
        rf"\b(?:was|were|be|is) (?:\w+ ){{0,2}}{_COLOUR}\b", r"remix\w*", r"image editing"),
    "text-to-video": (r"\bvideo\w*", r"\banimat\w*", r"\bmovie\b", r"(?<!audio )\bclip\b"),
    "visual-question-answering": (
        rf"(?:what|which|how many|is there|are there|who|where) (?:\w+ ){{0,6}}(?:in|on|of) (?:the|this|my) {_IMG}",
        r"predominant colou?r", rf"answer\w* (?:\w+ ){{0,5}}(?:about|regarding|on) (?:\w+ ){{0,2}}{_IMG}",
        r"visual question"),
    "document-question-answering": (
        r"(?:document|invoice|receipt|bill\w*|contract|letter|report|scan\w*|page)\b(?!.*\b(?:article|text)\b)",
        r"document question"),
    "tabular-classification": (r"\btables?\b", r"tabular", r"\bchart\b", r"\brows?\b", r"spreadsheet"),
    "token-classification": (
        r"\bentit(?:y|ies)", r"\btokens?\b", r"part[- ]of[- ]speech", r"\bpos\b", r"named (?:entity|entities)",
        r"\b(?:people|persons|names|places|locations|organi[sz]ations|dates)(?:,| and| mentioned| in)",
        r"key (?:details|terms|words|information)", r"\bner\b", r"tag each word"),
    "translation": (r"translat\w*", rf"(?:in|into|to) {_LANGUAGE}\b"),
    "summarization": (
        r"summar\w*", r"synopsis", r"condens\w*", r"concise\w*", r"succinct\w*", r"\bbrief\w*", r"key points",
        r"\bgist\b", r"distill\w*", r"shorten\w*", r"main points", r"\bcrux\b", r"tl;?dr", r"\bsum up\b",
        r"\brecap\w*", r"boil (?:\w+ )?down", r"short version", r"\boverview\b"),
    "question-answering": (
        r"\banswer\w*", r"according to (?:the|this) (?:text|passage|article)",
        r"(?:find|dig|figure|work) (?:\w+ ){0,2}out (?:what|who|when|where|which)",
        r"\bextract (?:the )?\w+ (?:information|year|date|name)"),
    "conversational": (
        r"conversational", r"conversation starter", r"\bchat(?:bot)?\b", r"\brespond\w*", r"\brepl(?:y|ies)\b",
        r"\bconvers(?:e|ing)\b", r"talk (?:about|with)",
        r"(?:start|have|hold|initiat|conduct|engag|continu|simulat|generat|creat|carry|build|construct)\w* "
        r"(?:(?!\w+ed\b)\w+ ){0,3}(?:conversation|dialog\w*|chat|discussion)"),
    "text-generation": (
        rf"(?:writ(?:e|ing)|compos\w*|generat\w*|creat\w*|craft\w*|produc\w*|draft\w*) {GAP}(?:story|text|"
        r"paragraph|piece|description|article|essay|poem|content|narrative|script|continuation|sentence|writing|"
        r"explanation|blog|message)", r"\bcontinu\w*", r"\bexpand\w*", r"elaborat\w*", r"added details",
        r"text generation"),
    "sentence-similarity": (
        r"similar\w*", r"compar\w*", r"how closely", r"\bmirror\w*", r"same (?:idea|meaning|thing)", r"semantic\w*",
        r"\bmatch\w*", r"close in meaning", r"\bresembl\w*"),
}
"""Patterns (matched case-insensitively against a clause, file names and quotes masked) per task id."""

_COMPILED = {task: re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)
             for task, patterns in CUES.items()}


_REFERS_BACK = re.compile(r"(?!(?:need|red|speed|embed|seed|feed|based)\b)\w+ed\b", re.IGNORECASE)
"""A cue that starts with a past participle names an earlier result ("the generated image", "the detected
emotion", "the summarized text"), not a new step."""


@dataclass(frozen=True)
class Cue:
    task: str
    position: int
    """Character offset of the match in the clause, so two tasks named in one clause keep their order."""
    phrase: str


def cues(text: str) -> list[Cue]:
    """Every task the text names, in the order they are named (first match of each task)."""
    spans = []
    for task, pattern in _COMPILED.items():
        match = next((m for m in pattern.finditer(text) if not _REFERS_BACK.match(m.group(0))), None)
        if match:
            spans.append((match.start(), match.end(), task, match.group(0)))
    # a cue inside a longer one is part of it: "what category" inside "figure out what category this audio"
    kept = [s for s in spans if not any(o[0] <= s[0] and s[1] <= o[1] and o[1] - o[0] > s[1] - s[0] for o in spans)]
    return [Cue(task, start, phrase) for start, _, task, phrase in sorted(kept)]


_ABOUT_A_DOCUMENT = re.compile(r"\b(?:document|invoice|receipt|form|scan\w*|bill|contract|letter)\b", re.IGNORECASE)
_TABLE_OR_DOCUMENT = {"tabular-classification", "document-question-answering"}


def named_tasks(text: str, modalities: set[str | None], request: str) -> list[tuple[str, int]]:
    """The tasks a clause asks for, with their positions, read in the light of the whole request.

    ``modalities`` are those of the request's files. A question is about a photo (visual question
    answering) or a scanned document (document question answering) when the request has an image; a table
    or document task is only one where there is an image to read it from, and then it, not plain image
    classification or captioning, is what the clause asks for.
    """
    found = [(c.task, c.position) for c in cues(text)]
    has_image = "image" in modalities
    if has_image:
        visual = "document-question-answering" if _ABOUT_A_DOCUMENT.search(request) else "visual-question-answering"
        found = [(visual if task == "question-answering" else task, at) for task, at in found]
    else:
        found = [(task, at) for task, at in found if task not in _TABLE_OR_DOCUMENT]
    if _TABLE_OR_DOCUMENT & {task for task, _ in found}:
        found = [(task, at) for task, at in found if task not in ("image-classification", "image-to-text")]
    first: dict[str, int] = {}
    for task, at in found:
        first.setdefault(task, at)  # "question-answering" and "visual-question-answering" may both map here
    return list(first.items())
