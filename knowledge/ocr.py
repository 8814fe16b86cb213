"""Offline text recognition: the ``Ocr`` seam and its one real implementation.

``RapidOcr`` runs rapidocr (PP-OCR detection + recognition as ONNX models that
ship inside the wheel) on onnxruntime. The engine is created on first use, never
at import, and its model files are named explicitly, so a missing model is an
``OcrUnavailable`` instead of a download at run time. One engine serves all
threads; calls are serialised (onnxruntime itself uses every core per call).

The same engine reads technicians' photos (``bot.photos.vision``) and scanned manual
pages without a text layer (``knowledge.ingest``). Tests without OCR pass None.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from knowledge.errors import OcrUnavailable

MIN_SCORE = 0.5  # rapidocr's own default: lines recognised less surely are dropped
_MODELS = {  # rapidocr 3.x defaults, as shipped in rapidocr/models/
    "Det.model_path": "PP-OCRv6_det_small.onnx",
    "Rec.model_path": "PP-OCRv6_rec_small.onnx",
    "Cls.model_path": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
}


@dataclass(frozen=True, slots=True)
class OcrBox:
    """One recognised piece of text and where it stands (pixels of the image read)."""

    text: str
    score: float
    left: float
    top: float
    right: float
    bottom: float

    @property
    def height(self) -> float:
        return self.bottom - self.top


class Ocr(Protocol):
    @property
    def name(self) -> str:
        """Identifies the engine and its models (part of index fingerprints)."""
        ...

    def read(self, image: Image.Image) -> list[OcrBox]:
        """The text pieces found in ``image``, any order."""
        ...


class RapidOcr:
    """rapidocr on onnxruntime, created lazily and shared by all threads."""

    name = "rapidocr-ppocrv6"

    def __init__(self, min_score: float = MIN_SCORE) -> None:
        self._min_score = min_score
        self._engine: Any = None
        self._lock = threading.Lock()

    def read(self, image: Image.Image) -> list[OcrBox]:
        pixels = np.asarray(image.convert("RGB"))[:, :, ::-1]  # rapidocr wants BGR like OpenCV
        with self._lock:
            result = self._load()(pixels)
        if result.txts is None or result.boxes is None:
            return []
        found: list[OcrBox] = []
        for text, score, box in zip(result.txts, result.scores, result.boxes, strict=True):
            if float(score) < self._min_score or not str(text).strip():
                continue
            xs, ys = box[:, 0], box[:, 1]
            left, top, right, bottom = float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())
            found.append(OcrBox(str(text).strip(), float(score), left, top, right, bottom))
        return found

    def _load(self) -> Any:
        """The engine (under ``self._lock``): built once, from the wheel's own model files."""
        if self._engine is not None:
            return self._engine
        try:
            from rapidocr import RapidOCR
        except ImportError as err:
            raise OcrUnavailable(f"rapidocr is not installed: {err}") from err
        folder = Path(str(resources.files("rapidocr") / "models"))
        params: dict[str, Any] = {"Global.log_level": "error"}
        for key, file in _MODELS.items():
            path = folder / file
            if not path.is_file():
                raise OcrUnavailable(f"OCR model {file} is missing from {folder} (reinstall rapidocr)")
            params[key] = str(path)
        self._engine = RapidOCR(params=params)
        logging.getLogger("RapidOCR").setLevel(logging.ERROR)
        return self._engine


def text_lines(boxes: list[OcrBox]) -> list[str]:
    """Boxes joined into lines, top to bottom, left to right; a wide gap between two
    boxes of one line becomes `` | `` as between the cells of a table row."""
    lines: list[list[OcrBox]] = []
    for box in sorted(boxes, key=lambda b: (b.top + b.bottom) / 2):
        middle = (box.top + box.bottom) / 2
        row = lines[-1] if lines else None
        if row is not None and abs(middle - sum((b.top + b.bottom) / 2 for b in row) / len(row)) < 0.5 * max(
            box.height, row[0].height
        ):
            row.append(box)
        else:
            lines.append([box])
    joined: list[str] = []
    for row in lines:
        row.sort(key=lambda b: b.left)
        parts = [row[0].text]
        for before, box in pairwise(row):
            gap = box.left - before.right
            parts.append((" | " if gap > 1.5 * max(box.height, before.height) else " ") + box.text)
        joined.append("".join(parts))
    return joined
