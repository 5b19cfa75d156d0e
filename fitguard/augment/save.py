"""Write augmented samples to a folder with an audit trail: ``manifest.json`` and a contact sheet.

Keras' ``ImageDataGenerator.flow(save_to_dir=...)`` writes images and records nothing. Here each output file
has a manifest entry with its source image, label and the exact parameters drawn, and
``ImageAugment(**manifest["augment"]).replay`` turns the source back into the saved pixels.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

from fitguard._validation import check_in, check_int, check_type
from fitguard.augment.pipeline import ImageAugment
from fitguard.errors import FitguardError

FORMATS = ("png", "jpeg")
MANIFEST = "manifest.json"
CONTACT_SHEET = "contact_sheet.png"


def save_augmented(
    X: torch.Tensor,
    y: torch.Tensor,
    augment: ImageAugment,
    out_dir: str | Path,
    count: int,
    *,
    prefix: str = "data",
    image_format: str = "png",
    class_names: Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
    seed: int = 0,
    batch_size: int = 256,
    overwrite: bool = False,
    data: dict[str, Any] | None = None,
) -> Path:
    """Write ``count`` augmented images ``<prefix>_<index>_<label>.<format>``, the manifest and a contact sheet.

    ``X`` holds raw pixels, in [0, 1] or [0, 255] (then divided by 255 before augmenting; the manifest says
    which). Sources are taken in a random order drawn from ``seed``, cycling when ``count`` exceeds ``len(X)``.
    ``data`` (JSON-ready) tells the manifest reader how to get ``X`` back, e.g. the path and loader options.
    Returns the manifest's path.

    Args:
        X: Source images, a non-empty (N, C, H, W) tensor with C = 1 or 3, raw pixels in [0, 1] or [0, 255].
        y: Their integer labels, shape (N,).
        augment: The :class:`ImageAugment` to apply (its parameters per image go in the manifest).
        out_dir: Folder to write into (created if missing); it must be empty unless ``overwrite``.
        count: Images to write, >= 1.
        prefix: File-name prefix of letters, digits, ``_``, ``-`` or ``.``. Default ``"data"``.
        image_format: ``"png"`` (default) or ``"jpeg"``.
        class_names: Names for the labels, used in the file names and manifest; None (default): the label
            numbers.
        sources: One source file name per image of ``X``, recorded in the manifest; None (default): none.
        seed: Seed (>= 0) of the source order and of the augmentation draws. Default 0.
        batch_size: Images augmented per batch, >= 1. Default 256.
        overwrite: Allow a non-empty ``out_dir``: the files an earlier ``save_augmented`` listed in its manifest
            are removed first, other files are left alone. Default False.
        data: JSON-ready description of where ``X`` came from, stored in the manifest. Default None.

    Raises:
        ValueError: an argument outside the ranges above.
        FitguardError: ``out_dir`` is a file, or a non-empty folder without ``overwrite``.

    Example:
        >>> import tempfile
        >>> from fitguard.augment import images
        >>> out = tempfile.mkdtemp()
        >>> path = save_augmented(torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 0, 1]), images(flip=True), out, 6)
        >>> len(json.loads(path.read_text())["outputs"])
        6
    """
    _check_arguments(X, y, augment, count, prefix, image_format, class_names, sources, seed, batch_size)
    out_dir = Path(out_dir)
    _prepare_folder(out_dir, overwrite)
    largest = float(X.max())
    if largest > 255 or float(X.min()) < 0:
        raise ValueError(f"`X` must hold raw pixels in [0, 1] or [0, 255], "
                         f"got values from {float(X.min())} to {largest}")
    pixel_scale = 255.0 if largest > 1.0 else 1.0
    generator = torch.Generator().manual_seed(seed)
    order = torch.cat([torch.randperm(len(X), generator=generator) for _ in range(-(-count // len(X)))])[:count]
    width = len(str(count - 1))
    outputs: list[dict[str, Any]] = []
    sheet_pairs: list[tuple[np.ndarray, np.ndarray]] = []
    for start in range(0, count, batch_size):
        index = order[start : start + batch_size]
        originals = X[index].float() / pixel_scale
        augmented, records = augment.sample(originals, generator)
        pixels = to_uint8(augmented)
        for k, (source, record) in enumerate(zip(index.tolist(), records)):
            number = start + k
            label = int(y[source])
            name = class_names[label] if class_names is not None else str(label)
            file = f"{prefix}_{number:0{width}d}_{_safe(name)}.{image_format}"
            _image(pixels[k]).save(out_dir / file, format=image_format.upper())
            outputs.append({
                "file": file, "index": number, "source_index": source,
                "source": sources[source] if sources is not None else None, "label": label, "class_name": name,
                **record,
            })
            if len(sheet_pairs) < 8:
                sheet_pairs.append((to_uint8(originals[k : k + 1])[0], pixels[k]))
    manifest = {
        "data": data, "augment": augment.get_config(), "seed": seed, "count": count, "format": image_format,
        "prefix": prefix,
        "pixel_scale": pixel_scale, "batch_size": batch_size, "contact_sheet": CONTACT_SHEET, "outputs": outputs,
    }
    path = out_dir / MANIFEST
    path.write_text(json.dumps(manifest, indent=1))
    contact_sheet(sheet_pairs).save(out_dir / CONTACT_SHEET)
    return path


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(B, C, H, W) values in [0, 1] -> uint8 (B, H, W, C), clamped and rounded half up.

    Args:
        x: images (B, C, H, W), values in [0, 1] (others are clamped).
    """
    return (x.detach().cpu().clamp(0, 1) * 255 + 0.5).floor().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def contact_sheet(pairs: Sequence[tuple[np.ndarray, np.ndarray]], zoom: int = 4) -> Image.Image:
    """Originals on the top row, their augmentations below, each enlarged ``zoom`` times (nearest).

    Args:
        pairs: ``(original, augmented)`` uint8 (H, W, C) arrays, one pair per column.
        zoom: the enlargement factor (default 4).
    """
    height, width = pairs[0][0].shape[:2]
    cell_h, cell_w, label_w, gap = height * zoom, width * zoom, 80, 4
    sheet = Image.new("RGB", (label_w + len(pairs) * (cell_w + gap), 2 * (cell_h + gap)), "white")
    draw = ImageDraw.Draw(sheet)
    for row, title in enumerate(("original", "augmented")):
        draw.text((4, row * (cell_h + gap) + cell_h // 2), title, fill="black")
        for col, pair in enumerate(pairs):
            tile = _image(pair[row]).convert("RGB").resize((cell_w, cell_h), Image.Resampling.NEAREST)
            sheet.paste(tile, (label_w + col * (cell_w + gap), row * (cell_h + gap)))
    return sheet


def _image(pixels: np.ndarray) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels))


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "class"


def _prepare_folder(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise FitguardError(f"{out_dir} is a file; `out_dir` must be a folder")
    if out_dir.exists() and any(out_dir.iterdir()):
        if not overwrite:
            raise FitguardError(f"{out_dir} is not empty; choose an empty folder or pass overwrite=True (--overwrite)")
        # Only what an earlier run wrote is removed; a stranger's files in the folder are left alone.
        old = out_dir / MANIFEST
        if old.exists():
            try:
                names = [entry["file"] for entry in json.loads(old.read_text())["outputs"]]
            except (ValueError, KeyError, TypeError):
                names = []
            for name in [*names, CONTACT_SHEET, MANIFEST]:
                (out_dir / Path(name).name).unlink(missing_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)


def _check_arguments(
    X: torch.Tensor, y: torch.Tensor, augment: ImageAugment, count: int, prefix: str, image_format: str,
    class_names: Sequence[str] | None, sources: Sequence[str] | None, seed: int, batch_size: int,
) -> None:
    if not isinstance(X, torch.Tensor) or X.ndim != 4 or X.shape[1] not in (1, 3) or len(X) == 0:
        got = tuple(X.shape) if isinstance(X, torch.Tensor) else type(X).__name__
        raise ValueError(f"`X` must be a non-empty (N, C, H, W) tensor with C = 1 or 3, got {got}")
    if not isinstance(y, torch.Tensor) or tuple(y.shape) != (len(X),) or y.is_floating_point():
        raise ValueError(f"`y` must be integer labels of shape ({len(X)},), got {getattr(y, 'shape', y)!r}")
    check_type("augment", augment, ImageAugment, what="an ImageAugment from fitguard.augment.images(...)")
    check_int("count", count, low=1)
    if not isinstance(prefix, str) or not prefix or _safe(prefix) != prefix:
        raise ValueError(f"`prefix` must be a non-empty name of letters, digits, '_', '-' or '.', got {prefix!r}")
    check_in("image_format", image_format, FORMATS)
    if class_names is not None and len(class_names) <= int(y.max()):
        raise ValueError(f"`class_names` has {len(class_names)} names, but `y` holds label {int(y.max())}")
    if sources is not None and len(sources) != len(X):
        raise ValueError(f"`sources` must name one file per image ({len(X)}), got {len(sources)}")
    check_int("seed", seed, low=0)
    check_int("batch_size", batch_size, low=1)
