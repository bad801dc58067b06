"""The core never imports Panel / HoloViews / Bokeh: import every core module with them blocked."""
from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import astroexplore

ROOT = Path(astroexplore.__file__).resolve().parent
BLOCKED = ("panel", "holoviews", "bokeh", "datashader", "hvplot")


def core_modules() -> list[str]:
    """Every module of astroexplore except the UI package (and the app scripts)."""
    names = []
    for info in pkgutil.walk_packages([str(ROOT)], prefix="astroexplore."):
        if info.name == "astroexplore.ui" or info.name.startswith("astroexplore.ui."):
            continue
        names.append(info.name)
    return sorted(names)


def test_core_modules_import_without_panel():
    modules = core_modules()
    assert "astroexplore.catalogue" in modules and "astroexplore.labels" in modules
    code = (
        "import sys, importlib\n"
        f"for name in {BLOCKED!r}:\n"
        "    sys.modules[name] = None  # 'import panel' now raises ImportError\n"
        "failed = []\n"
        f"for mod in {modules!r}:\n"
        "    try:\n"
        "        importlib.import_module(mod)\n"
        "    except ImportError as err:  # only a blocked UI library counts (optional deps may be absent)\n"
        f"        if any(b in str(err) for b in {BLOCKED!r}):\n"
        "            failed.append(f'{mod}: {err}')\n"
        f"leaked = [m for m in sys.modules if m.split('.')[0] in {BLOCKED!r} and sys.modules[m] is not None]\n"
        "print('\\n'.join(failed + leaked))\n"
        "sys.exit(1 if failed or leaked else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"core modules need a UI library:\n{proc.stdout}{proc.stderr}"


def test_ui_package_import_is_lazy():
    code = ("import sys\nimport astroexplore.ui\n"
            "assert 'panel' not in sys.modules, 'import astroexplore.ui pulled in panel'\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
