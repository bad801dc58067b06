"""Shared fixtures. Real data lives in ../shared/data (never copied into the repo)."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ../shared/data; skips the test with a reason when it is missing (a fresh clone)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real survey data not found at {SHARED_DATA} (it sits beside the checkout in CI)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def read_table():
    """Reads back a table a command wrote: ``read_table(path)``, CSV (ids kept as text) or Parquet."""
    import pandas as pd

    def read(path) -> pd.DataFrame:
        return pd.read_csv(path, dtype={"id": str}) if str(path).endswith(".csv") else pd.read_parquet(path)
    return read


@pytest.fixture
def read_only_folder(tmp_path):
    """(writable folder, the same folder bind-mounted read-only): a read-only mount, where even
    root cannot write. Skips where mounting is not permitted (no CAP_SYS_ADMIN)."""
    import subprocess

    src, ro = tmp_path / "src", tmp_path / "ro"
    src.mkdir()
    ro.mkdir()
    mounted = subprocess.run(["mount", "--bind", str(src), str(ro)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {mounted.stderr.decode().strip()}")
    try:
        if subprocess.run(["mount", "-o", "remount,ro,bind", str(ro)], capture_output=True).returncode:
            pytest.skip("cannot remount read-only here")
        yield src, ro
    finally:
        subprocess.run(["umount", str(ro)], check=True)
