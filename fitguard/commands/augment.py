"""``fitguard augment``: write augmented samples of an image dataset, with a manifest and a contact sheet."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from fitguard.errors import FitguardError

#: How DATA is read, so a manifest reader can get the very same source images back by index.
LOAD_OPTIONS = {"val": 0.0, "test": 0.0, "standardize": False}


def register(app: typer.Typer) -> None:
    """Add the ``augment`` command to ``app``."""

    @app.command("augment")
    def augment(
        data: str = typer.Argument(..., help="Image folder (<class>/<image>), a .zip of one, or a built-in image set."),
        count: int = typer.Option(20, help="How many augmented images to write."),
        save_to_dir: Path = typer.Option(..., help="Folder to write into (must be empty unless --overwrite)."),
        save_prefix: str = typer.Option("data", help="File names are <prefix>_<index>_<class>.<format>."),
        save_format: str = typer.Option("png", help="png (lossless, replayable exactly) or jpeg."),
        seed: int = typer.Option(0, help="Seed for the source order and every transform drawn."),
        rotate: float = typer.Option(0.0, help="Rotate by a uniform angle in [-r, r] degrees."),
        flip: bool = typer.Option(False, help="Mirror left-right."),
        vflip: bool = typer.Option(False, help="Mirror up-down."),
        scale: float = typer.Option(0.0, help="Zoom by a factor in [1 - s, 1 + s]."),
        shift: float = typer.Option(0.0, help="Shift by up to this fraction of width and height."),
        crop: int = typer.Option(0, help="Pad by this many pixels and crop back at random (0: off)."),
        brightness: float = typer.Option(0.0, help="Add a uniform shift in [-b, b] (pixels in [0, 1])."),
        contrast: float = typer.Option(0.0, help="Multiply by a factor in [1 - c, 1 + c]."),
        erase: float = typer.Option(
            0.0, help="Cutout: erase a rectangle of 2% up to this share of the image (0: off)."),
        noise: float = typer.Option(0.0, help="Gaussian noise with this standard deviation."),
        p: float = typer.Option(0.5, help="Chance that each transform hits each image."),
        overwrite: bool = typer.Option(False, help="Replace what an earlier run wrote in --save-to-dir."),
    ) -> None:
        """Write augmented images, manifest.json (source, label, exact parameters per file) and a contact sheet."""
        from fitguard.augment.pipeline import images  # imported here: --help needs neither kornia nor the data layer
        from fitguard.augment.save import CONTACT_SHEET, MANIFEST, save_augmented
        from fitguard.data import load

        augmenter = images(
            rotate=rotate, flip=flip, vflip=vflip, scale=scale or None, shift=shift, crop=crop or None,
            brightness=brightness, contrast=contrast, erase=erase, noise=noise, p=p,
        )
        if save_format not in ("png", "jpeg"):
            raise FitguardError(f"`--save-format` must be 'png' or 'jpeg', got {save_format!r}")
        dataset = load(data, **LOAD_OPTIONS)
        if dataset.kind != "image" or dataset.train.X.ndim != 4:
            raise FitguardError(f"{data} is a {dataset.kind} dataset; `fitguard augment` needs images (N, C, H, W)")
        manifest = save_augmented(
            dataset.train.X, dataset.train.y, augmenter, save_to_dir, count, prefix=save_prefix,
            image_format=save_format, class_names=list(dataset.class_names), seed=seed, overwrite=overwrite,
            data={"source": data, "split": "train", "load_options": LOAD_OPTIONS},
        )
        table = Table(title=f"fitguard augment: {count} images from {data}")
        table.add_column("wrote")
        table.add_column("where")
        table.add_row(f"{count} {save_format} images", str(save_to_dir / f"{save_prefix}_*.{save_format}"))
        table.add_row("manifest", str(manifest.parent / MANIFEST))
        table.add_row("contact sheet", str(manifest.parent / CONTACT_SHEET))
        Console().print(table)
