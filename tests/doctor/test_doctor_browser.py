import shutil
import subprocess

import numpy as np
import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install -y chromium)")
def test_report_renders_in_headless_chromium_as_a_full_page(digits_run, tmp_path):
    from PIL import Image

    shot = tmp_path / "report.png"
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", f"--screenshot={shot}", "--window-size=1280,4000",
         (digits_run / "report.html").resolve().as_uri()],
        check=True, capture_output=True, timeout=120,
    )
    image = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
    assert image.shape == (4000, 1280)
    assert shot.stat().st_size > 100_000  # plots and tables, not a blank page
    # content all the way down: every 500-pixel band has ink (text or figures) in it
    for top in range(0, 4000, 500):
        assert (image[top : top + 500] < 128).mean() > 0.002, f"band starting at y={top} is empty"
