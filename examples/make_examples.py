"""Make the example inputs the README's commands use: a sign (PIL-rendered text) and a meeting recording
(speech from the bundled Piper voice). Run from the repository root: python examples/make_examples.py"""

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from deployments.artifacts import Text, save
from deployments.backends.base import ExpertRequest
from deployments.backends.bundled import PiperBackend
from deployments.catalog import find_card, load_catalog

HERE = Path(__file__).parent
MEETING = ("Good morning everyone. Maria Lopez will present the results from the Berlin office, "
           "and then John Smith will talk about the new store in Toronto.")


def main() -> None:
    sign = Image.new("RGB", (900, 260), "white")
    draw = ImageDraw.Draw(sign)
    draw.rectangle([10, 10, 889, 249], outline="black", width=6)
    draw.text((60, 95), "MIND THE GAP", fill="black", font=ImageFont.load_default(size=72))
    sign.save(HERE / "sign.png")
    voice = PiperBackend(find_card(load_catalog(), "rhasspy/piper-en_US-joe-medium"))
    voice.load()
    audio = voice.predict_one(ExpertRequest("text-to-speech", {"text": Text(MEETING)}))[0]
    save(audio, HERE / "meeting")
    print(f"wrote {HERE / 'sign.png'} and {HERE / 'meeting.wav'} ({audio.seconds:.1f} s)")


if __name__ == "__main__":
    main()
