"""OpenPose-style skeletons from MediaPipe Pose, run in a sidecar process with its own virtual environment.

``mediapipe==0.10.14`` ships its pose weights inside the wheel (``pose_detection.tflite`` and
``pose_landmark_full.tflite``), but it pins ``protobuf<5`` while Ray Serve needs protobuf 7. Ray's own
``runtime_env={"pip": [...]}`` does not separate them inside a Serve replica: its virtualenv inherits the system
site-packages, mediapipe's protobuf 4 shadows protobuf 7, and the replica dies importing Serve
(``grpc_reflection``'s ``reflection_pb2``: ``cannot import name 'runtime_version' from 'google.protobuf'``).
So the model runs in a child process of the replica, in a venv of its own (built once, cached under
``~/.cache/hugginggpt-ray/venvs/``). They speak one JSON line per request over stdin/stdout; images travel as
base64 of their encoded bytes. The replica maps MediaPipe's 33 landmarks onto OpenPose's 18 COCO keypoints and
draws them the way ControlNet's OpenPose detector does: coloured limbs and joints on black, at the input size.

Card options: ``venv`` (the sidecar's venv folder), ``pip`` (what to install into it), ``min_visibility``
(keypoints below it are left out, 0.5), ``timeout_s`` (per request, 60), ``build_timeout_s`` (900).
"""

from __future__ import annotations

import atexit
import base64
import json
import math
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from deployments.artifacts import Artifact, Image, Json
from deployments.backends.base import Backend, ExpertError, ExpertRequest, get_input

MEDIAPIPE_PIP = ("mediapipe==0.10.14", "numpy<2", "opencv-contrib-python<4.12")
"""The sidecar's requirements: mediapipe 0.10.14 was built against numpy 1, and OpenCV 4.12+ wants numpy 2."""
CACHE_DIR = Path(os.environ.get("HUGGINGGPT_RAY_CACHE", "~/.cache/hugginggpt-ray")).expanduser()

# OpenPose's 18 keypoints (COCO order, as ControlNet's annotator uses) and the MediaPipe landmark for each;
# the neck (None) is the midpoint of the shoulders. MediaPipe's left/right are the person's, as OpenPose's.
KEYPOINTS = ("nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
             "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
             "right_eye", "left_eye", "right_ear", "left_ear")
FROM_MEDIAPIPE = (0, None, 12, 14, 16, 11, 13, 15, 24, 26, 28, 23, 25, 27, 5, 2, 8, 7)
# OpenPose's limbs (0-based pairs of the keypoints above) and colours, as in controlnet_aux's draw_bodypose.
LIMBS = ((1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
         (1, 0), (0, 14), (14, 16), (0, 15), (15, 17))
COLORS = ((255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0), (0, 255, 0),
          (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255), (0, 0, 255), (85, 0, 255),
          (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85))

WORKER = r'''
"""MediaPipe Pose sidecar: one JSON request per stdin line, one JSON answer per stdout line."""
import base64, json, os, sys, time

protocol = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)  # whatever the libraries print goes to stderr, never into the protocol
started = time.time()
import cv2
import mediapipe as mp
import numpy as np

pose = mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1, enable_segmentation=False)
protocol.write(json.dumps({"ready": True, "mediapipe": mp.__version__, "load_s": time.time() - started}) + "\n")
for line in sys.stdin:
    try:
        request = json.loads(line)
        data = np.frombuffer(base64.b64decode(request["image"]), dtype=np.uint8)
        bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError("not a readable image")
        started = time.time()
        found = pose.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).pose_landmarks
        landmarks = [[p.x, p.y, p.z, p.visibility] for p in found.landmark] if found else None
        answer = {"landmarks": landmarks, "seconds": time.time() - started}
    except Exception as err:
        answer = {"error": f"{type(err).__name__}: {err}"}
    protocol.write(json.dumps(answer) + "\n")
'''


class SidecarError(RuntimeError):
    """The sidecar's venv could not be built or its process does not answer."""


def build_venv(venv: Path, requirements: tuple[str, ...] | list[str], timeout_s: float = 900) -> Path:
    """The python of a venv with ``requirements``, built once under a file lock; a half-built one is redone."""
    import fcntl
    import shutil

    python = venv / "bin" / "python"
    ready = venv / ".ready"
    wanted = "\n".join(requirements)

    def built() -> bool:
        return ready.exists() and ready.read_text(encoding="utf-8") == wanted and python.exists()

    if built():
        return python
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f".{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if built():
            return python
        shutil.rmtree(venv, ignore_errors=True)
        # No PYTHONPATH: the venv must see none of this environment's packages (protobuf 7 above all).
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        for step in ([sys.executable, "-m", "venv", str(venv)],
                     [str(python), "-m", "pip", "install", "--quiet", *requirements]):
            try:
                done = subprocess.run(step, capture_output=True, text=True, timeout=timeout_s, env=env)
            except subprocess.TimeoutExpired:
                raise SidecarError(f"building {venv}: {' '.join(step)} took over {timeout_s:g} s") from None
            if done.returncode:
                raise SidecarError(f"building {venv}: {' '.join(step)} exited {done.returncode}:\n"
                                   f"{(done.stderr or done.stdout)[-3000:]}")
        ready.write_text(wanted, encoding="utf-8")
    return python


class PoseSidecar:
    """The MediaPipe process: started on demand, asked one image at a time, restarted once if it died."""

    def __init__(self, python: Path, timeout_s: float = 60.0, start_timeout_s: float = 120.0) -> None:
        self.python = python
        self.timeout_s = timeout_s
        self.start_timeout_s = start_timeout_s
        self.process: subprocess.Popen | None = None
        self.answers: queue.Queue = queue.Queue()
        self.lock = threading.Lock()
        self.info: dict = {}
        self.stderr = tempfile.TemporaryFile()
        atexit.register(self.close)

    def start(self) -> dict:
        self.close()
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        env.update(GLOG_minloglevel="2", TF_CPP_MIN_LOG_LEVEL="2", OMP_NUM_THREADS=env.get("OMP_NUM_THREADS", "1"))
        self.process = subprocess.Popen([str(self.python), "-u", "-c", WORKER], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=self.stderr, text=True, env=env)
        self.answers = queue.Queue()
        threading.Thread(target=self._read, args=(self.process, self.answers), daemon=True).start()
        self.info = self._answer(self.start_timeout_s, "start")
        return self.info

    @staticmethod
    def _read(process: subprocess.Popen, answers: queue.Queue) -> None:
        for line in process.stdout:
            answers.put(line)
        answers.put(None)

    def _answer(self, timeout_s: float, doing: str) -> dict:
        try:
            line = self.answers.get(timeout=timeout_s)
        except queue.Empty:
            self.close()
            raise SidecarError(f"the pose sidecar did not {doing} within {timeout_s:g} s") from None
        if line is None:
            code = self.process.wait() if self.process else None
            raise SidecarError(f"the pose sidecar exited ({code}) during {doing}: {self.stderr_tail()}")
        return json.loads(line)

    def stderr_tail(self, chars: int = 2000) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode("utf-8", "replace")[-chars:]

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def landmarks(self, encoded: bytes) -> dict:
        """MediaPipe's answer for one encoded image: ``{"landmarks": [[x, y, z, visibility]×33] or None}``."""
        with self.lock:
            if not self.alive():
                self.start()
            self.process.stdin.write(json.dumps({"image": base64.b64encode(encoded).decode("ascii")}) + "\n")
            self.process.stdin.flush()
            return self._answer(self.timeout_s, "answer")

    def close(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.stdin.close()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def openpose_keypoints(landmarks: list[list[float]], width: int, height: int,
                       min_visibility: float = 0.5) -> list[list[float] | None]:
    """The 18 OpenPose keypoints in pixels ``[x, y, score]`` (None where unseen) from MediaPipe's 33 landmarks."""

    def point(index: int) -> list[float] | None:
        x, y, _, visibility = landmarks[index]
        if visibility < min_visibility or not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            return None
        return [x * width, y * height, visibility]

    points = [point(index) if index is not None else None for index in FROM_MEDIAPIPE]
    right, left = points[2], points[5]
    if right and left:
        points[1] = [(right[0] + left[0]) / 2, (right[1] + left[1]) / 2, min(right[2], left[2])]
    return points


def draw_openpose(points: list[list[float] | None], width: int, height: int):
    """OpenPose's body drawing on black: limbs as ellipses in 60 % colour, joints as full-colour dots."""
    from PIL import Image as PILImage
    from PIL import ImageDraw

    scale = max(width, height) / 512
    stick = max(2.0, 4 * scale)
    radius = max(2.0, 4 * scale)
    canvas = PILImage.new("RGB", (width, height))
    draw = ImageDraw.Draw(canvas)
    for (a, b), color in zip(LIMBS, COLORS):
        if points[a] is None or points[b] is None:
            continue
        (xa, ya, _), (xb, yb, _) = points[a], points[b]
        cx, cy, half = (xa + xb) / 2, (ya + yb) / 2, math.hypot(xb - xa, yb - ya) / 2
        angle = math.atan2(yb - ya, xb - xa)
        outline = []
        for step in range(0, 360, 10):
            t = math.radians(step)
            ex, ey = half * math.cos(t), stick * math.sin(t)
            outline.append((cx + ex * math.cos(angle) - ey * math.sin(angle),
                            cy + ex * math.sin(angle) + ey * math.cos(angle)))
        draw.polygon(outline, fill=tuple(int(c * 0.6) for c in color))
    for p, color in zip(points, COLORS):
        if p is not None:
            draw.ellipse((p[0] - radius, p[1] - radius, p[0] + radius, p[1] + radius), fill=color)
    return canvas


class OpenposeBackend(Backend):
    """``openpose-control``: a person's pose as an OpenPose skeleton image (for ControlNet) and its keypoints."""

    tasks = ("openpose-control",)

    def load(self) -> None:
        requirements = tuple(self.options.get("pip") or MEDIAPIPE_PIP)
        default_venv = CACHE_DIR / "venvs" / requirements[0].replace("==", "-")
        venv = Path(os.path.expanduser(self.options.get("venv") or default_venv))
        self.min_visibility = float(self.options.get("min_visibility", 0.5))
        started = time.perf_counter()
        python = build_venv(venv, requirements, timeout_s=float(self.options.get("build_timeout_s", 900)))
        self.build_seconds = time.perf_counter() - started
        self.sidecar = PoseSidecar(python, timeout_s=float(self.options.get("timeout_s", 60)))
        self.sidecar.start()

    def predict_one(self, request: ExpertRequest) -> list[Artifact]:
        image = get_input(request, "image")
        answer = self.sidecar.landmarks(image.data)
        if "error" in answer:
            raise ExpertError(f"{request.task} could not read the image: {answer['error']}")
        if not answer["landmarks"]:
            raise ExpertError(f"{request.task} found no person in the image ({image.width}×{image.height})")
        points = openpose_keypoints(answer["landmarks"], image.width, image.height, self.min_visibility)
        if sum(p is not None for p in points) < 2:
            raise ExpertError(f"{request.task} found no clearly visible person in the image "
                              f"({image.width}×{image.height})")
        skeleton = draw_openpose(points, image.width, image.height)
        keypoints = {name: ([round(p[0], 1), round(p[1], 1), round(p[2], 3)] if p else None)
                     for name, p in zip(KEYPOINTS, points)}
        data = {"format": "openpose-18", "width": image.width, "height": image.height, "keypoints": keypoints,
                "landmarks": [[round(v, 4) for v in mark] for mark in answer["landmarks"]],
                "seconds": round(answer.get("seconds", 0.0), 4)}
        return [Image.from_pil(skeleton), Json(data)]

    def health(self) -> None:
        if not self.sidecar.alive():
            raise SidecarError(f"the pose sidecar is not running: {self.sidecar.stderr_tail(500)}")
