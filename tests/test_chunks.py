"""Chunked catalogue work in parallel threads: same results whatever the thread count."""
import threading

import numpy as np
import pytest

from astroexplore.chunks import THREADS_ENV, chunk_threads, for_each_chunk
from astroexplore.detectors import compute_scores, tree_depth_features
from astroexplore.isolation_kernel import isolation_paths


@pytest.fixture
def X():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(5_000, 6)).astype(np.float32)
    X[:20] += 6  # a few anomalies
    return X


def test_every_row_once_in_several_threads_with_progress_to_one():
    seen = np.zeros(1_003, dtype=int)
    names, fractions = set(), []
    together = threading.Barrier(2, timeout=10)  # the first two chunks wait for each other: in two threads

    def work(start, stop):
        names.add(threading.current_thread().name)
        if start < 200:
            together.wait()
        seen[start:stop] += 1

    for_each_chunk(work, 1_003, 100, threads=3, progress=fractions.append)
    assert (seen == 1).all()
    assert len(fractions) == 11 and fractions == sorted(fractions) and fractions[-1] == 1.0
    assert len(names) > 1 and all(n.startswith("astroexplore-chunks") for n in names)


def test_a_failing_chunk_raises_its_error():
    def work(start, stop):
        if start == 40:
            raise ValueError("bad chunk at 40")

    with pytest.raises(ValueError, match="bad chunk at 40"):
        for_each_chunk(work, 100, 10, threads=2)


def test_thread_count_from_argument_environment_or_cores(monkeypatch):
    monkeypatch.setenv(THREADS_ENV, "3")
    assert chunk_threads() == 3
    assert chunk_threads(1) == 1
    monkeypatch.delenv(THREADS_ENV)
    assert chunk_threads() >= 1
    with pytest.raises(ValueError, match="at least 1"):
        chunk_threads(0)
    monkeypatch.setenv(THREADS_ENV, "two")
    with pytest.raises(ValueError, match="ASTROEXPLORE_THREADS must be a whole number of threads; got 'two'"):
        chunk_threads()
    monkeypatch.delenv(THREADS_ENV)
    with pytest.raises(ValueError, match="chunk_size"):
        for_each_chunk(lambda a, b: None, 10, 0)


@pytest.mark.parametrize("compute", [
    lambda X: compute_scores(X, "isolation_forest", chunk_size=512).raw,
    lambda X: tree_depth_features(X, n_trees=8, chunk_size=512),
    lambda X: isolation_paths(X, n_trees=8, chunk_size=512).leaves,
], ids=["isolation_forest_scores", "tree_depths", "isolation_leaves"])
def test_forest_work_is_identical_in_one_thread_and_in_four(monkeypatch, X, compute):
    monkeypatch.setenv(THREADS_ENV, "1")
    one = compute(X)
    monkeypatch.setenv(THREADS_ENV, "4")
    four = compute(X)
    np.testing.assert_array_equal(one, four)
    assert one.shape[0] == len(X)


def test_isolation_forest_scores_still_rank_the_anomalies_first(monkeypatch, X):
    monkeypatch.setenv(THREADS_ENV, "4")
    s = compute_scores(X, "isolation_forest", chunk_size=256)
    assert set(np.argsort(-s.raw)[:20]) >= set(range(15))
