"""Start-up: launch -> first image of a BraTS case, as whole processes (median of ``--runs``).

Two figures, each a fresh interpreter started by this script with the wall clock running
from ``Popen`` until the child is done with its job:

* ``first image`` -- what a user waits for: ``brats-desktop CASE`` as ``app.main`` runs it
  (QApplication, window with every feature, ``open_patient`` in the background); the clock
  stops when the window's ``first_image_shown`` fires and the views have painted (the child
  then exits at once).
* ``screenshot`` -- ``brats-desktop CASE --screenshot OUT.png`` (offscreen): the whole
  patient read synchronously, 3-D surfaces built, the window rendered and saved, exit.

Both run ``QT_QPA_PLATFORM=offscreen`` on the code of this checkout. The load average
is printed beside the figures: on a shared machine it moves them more than anything else.

Usage::

    python bench/bench_startup.py                     # ../shared/data/BraTS-GLI-00001-000, 5 runs
    python bench/bench_startup.py --case DIR --runs 3 --only first-image
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CASE = ROOT.parent / "shared" / "data" / "BraTS-GLI-00001-000"

# The interactive start-up of app.main, stopped at the first image on screen.
FIRST_IMAGE = """
import sys
from PySide6.QtWidgets import QApplication
from brats_desktop.app.views import pg_setup  # noqa: F401  (as app.main: before any widget)
from brats_desktop.app.main_window import MainWindow
app = QApplication(sys.argv[:1])
window = MainWindow()
window.show()

def shown():
    for view in window.views:
        view.repaint()
    print("first image", flush=True)
    heavy = sorted(m for m in ("torch", "skimage", "SimpleITK", "pydicom") if m in sys.modules)
    print("heavy:" + ",".join(heavy), flush=True)
    window.state.set_patient(None)  # nothing unsaved: close without questions
    window.close()
    app.quit()

window.first_image_shown.connect(shown)
window.open_patient(sys.argv[1])
app.exec()
"""


def _env(tmp: Path) -> dict[str, str]:
    # Settings and recovery files of the child go to a scratch folder, never the user's.
    return dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT), HOME=str(tmp),
                XDG_CONFIG_HOME=str(tmp / "config"), XDG_DATA_HOME=str(tmp / "data"))


def time_first_image(case: Path, tmp: Path) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", FIRST_IMAGE, str(case)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, cwd=ROOT, env=_env(tmp))
    seconds, heavy = float("nan"), ""
    for line in proc.stdout:
        if line.startswith("first image"):
            seconds = time.perf_counter() - start
        elif line.startswith("heavy:"):
            heavy = line.strip()[len("heavy:"):]
    proc.wait(timeout=120)
    return seconds, heavy


def time_screenshot(case: Path, tmp: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "brats_desktop.app.main", str(case), "--screenshot",
                    str(tmp / "shot.png")], check=True, capture_output=True, cwd=ROOT, env=_env(tmp), timeout=300)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", type=Path, default=DEFAULT_CASE, help="patient folder (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", choices=("first-image", "screenshot"))
    args = parser.parse_args(argv)
    if not args.case.is_dir():
        print(f"bench_startup: {args.case} is not a folder", file=sys.stderr)
        return 2
    print(f"case {args.case.name}, {args.runs} runs each, {os.cpu_count()} CPUs, "
          f"load average before {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "first-image"):
            runs = [time_first_image(args.case, Path(tmp)) for _ in range(args.runs)]
            times = [s for s, _ in runs]
            print(f"first image (brats-desktop CASE): median {statistics.median(times):.2f} s "
                  f"(runs {', '.join(f'{t:.2f}' for t in times)}); heavy modules at that moment: "
                  f"{runs[-1][1] or 'none'}")
        if args.only in (None, "screenshot"):
            times = [time_screenshot(args.case, Path(tmp)) for _ in range(args.runs)]
            print(f"screenshot (brats-desktop CASE --screenshot): median {statistics.median(times):.2f} s "
                  f"(runs {', '.join(f'{t:.2f}' for t in times)})")
    print(f"load average after {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
