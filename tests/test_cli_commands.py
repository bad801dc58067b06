"""The loading sub-commands (`serve`, `scores`, `project`) as a user runs them: the same loading
options as `validate`, and bad input as one `error:` line, never a traceback."""
from __future__ import annotations

import socket

import numpy as np
import pandas as pd
import pytest

from astroexplore.cli import main


@pytest.fixture
def z_catalogue(tmp_path):
    """An embedding under an unusual prefix beside a 'mag_0..1' group: needs --embedding-prefix."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"id": [f"g{i}" for i in range(60)], "mag_0": rng.normal(size=60),
                       "mag_1": rng.normal(size=60)})
    for j in range(2):
        df[f"z_{j}"] = rng.normal(size=60)
    path = tmp_path / "z.parquet"
    df.to_parquet(path, index=False)
    return path


def test_scores_and_project_take_the_loading_options(z_catalogue, capsys):
    assert main(["scores", str(z_catalogue), "--embedding-prefix", "z_", "--kernel-trees", "0"]) == 0
    assert main(["project", str(z_catalogue), "--embedding-prefix", "z_", "--method", "pca"]) == 0
    assert "pca projection cached" in capsys.readouterr().out
    assert main(["scores", str(z_catalogue), "--kernel-trees", "0"]) == 1  # two groups tie: must choose
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--embedding-prefix" in err and "Traceback" not in err


@pytest.mark.parametrize("argv, words", [
    (["scores", "missing.parquet"], "file not found"),
    (["project", "missing.parquet", "--method", "pca"], "file not found"),
    (["serve", "missing.parquet", "--port", "0"], "file not found"),
])
def test_bad_input_is_one_error_line(tmp_path, capsys, argv, words, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err


@pytest.mark.parametrize("argv", [["make-demo", "out", "--n", "0"], ["scores", "x.parquet", "--seed", "-1"],
                                  ["scores", "x.parquet", "--kernel-trees", "-5"]])
def test_impossible_numbers_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and "must be at least" in capsys.readouterr().err


@pytest.mark.parametrize("argv, words", [
    (["scores", "x.parquet", "--kernel-trees", "100000000"], "--kernel-trees: must be at most 1000, got 100000000"),
    (["scores", "x.parquet", "--seed", str(2**32)], f"--seed: must be at most {2**32 - 1}"),
    (["serve", "x.parquet", "--port", "70000"], "--port: must be at most 65535, got 70000"),
    (["serve", "x.parquet", "--port", "-1"], "--port: must be at least 0, got -1"),
    (["demo", "--port", "65536"], "--port: must be at most 65535"),
])
def test_counts_past_their_maximum_are_usage_errors(argv, words, capsys):
    """scores --kernel-trees 100000000 ran 41 min and took 22 GB; serve --port 70000 was a traceback."""
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and words in capsys.readouterr().err


def test_scores_help_says_the_most_kernel_trees_and_why(capsys):
    with pytest.raises(SystemExit):
        main(["scores", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "at most 1000: the ids take 2 bytes per galaxy and tree" in help_text


def test_serve_on_an_address_it_cannot_resolve_or_bind_names_the_address(z_catalogue, capsys):
    assert main(["serve", str(z_catalogue), "--address", "no.such.host.invalid", "--embedding-prefix", "z_"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot serve on no.such.host.invalid: the address cannot be resolved")
    assert "pass another --address" in err and "--port" not in err and err.count("\n") == 1
    assert main(["serve", str(z_catalogue), "--address", "192.0.2.1", "--embedding-prefix", "z_"]) == 1
    err = capsys.readouterr().err  # TEST-NET-1: never an address of this machine
    assert "cannot serve on 192.0.2.1: the address cannot be bound" in err and "--port" not in err
    assert not (z_catalogue.parent / "z.labels.sqlite").exists()


def test_a_script_port_out_of_range_is_a_value_error():
    from astroexplore.ui.serve import _claim_port

    with pytest.raises(ValueError, match="port 70000: a port is from 0 to 65535"):
        _claim_port("127.0.0.1", 70000)


def test_serve_on_a_port_in_use_fails_before_loading(z_catalogue, capsys):
    with socket.socket() as taken:
        taken.bind(("localhost", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", str(z_catalogue), "--port", str(port), "--embedding-prefix", "z_"]) == 1
    err = capsys.readouterr().err
    assert f"cannot serve on localhost:{port}" in err and "--port" in err
    assert not (z_catalogue.parent / "z.labels.sqlite").exists()  # nothing was loaded or created


def test_a_cached_umap_beats_precomputed_pca_columns(tmp_path):
    """`astroexplore project --method umap` on a catalogue with pca_0/pca_1: the app shows the UMAP."""
    from astroexplore.catalogue import Catalogue
    from astroexplore.projection import cache_path, projection

    rng = np.random.default_rng(1)
    table = pd.DataFrame({"pca_0": rng.normal(size=30), "pca_1": rng.normal(size=30)})
    cat = Catalogue.from_arrays(rng.normal(size=(30, 4)).astype(np.float32), table=table)
    cache_path(cat, "umap").unlink(missing_ok=True)  # in-memory: the cache is in the temp folder
    np.testing.assert_array_equal(projection(cat), table.to_numpy(np.float32))
    umap = rng.normal(size=(30, 2)).astype(np.float32)
    np.save(cache_path(cat, "umap"), umap)
    np.testing.assert_array_equal(projection(cat), umap)
    with_umap_columns = Catalogue.from_arrays(cat.embeddings, table=table.assign(umap_0=1.0, umap_1=2.0))
    np.save(cache_path(with_umap_columns, "umap"), umap)
    assert (projection(with_umap_columns) == [1.0, 2.0]).all()  # the catalogue's own UMAP wins


def test_regenerating_the_demo_sets_its_old_labels_aside(tmp_path, capsys):
    from astroexplore.demo import make_demo_catalogue
    from astroexplore.labels import LabelStore, default_store_path

    path = make_demo_catalogue(tmp_path, n=40, seed=1, progress=False)
    with LabelStore(default_store_path(path)) as store:
        store.add("demo_000020", 5)
    make_demo_catalogue(tmp_path, n=40, seed=2, progress=False)
    assert not default_store_path(path).exists()
    aside = [p for p in tmp_path.iterdir() if ".labels.sqlite.before-" in p.name and not p.name.endswith(("-wal", "-shm"))]
    assert len(aside) == 1 and "moved to" in capsys.readouterr().err
    with LabelStore(aside[0]) as old:
        assert old.scores().to_dict() == {"demo_000020": 5.0}
    assert not list(tmp_path.glob("*.tmp"))


def test_demo_says_when_it_serves_an_existing_survey_of_another_size(tmp_path, capsys):
    from astroexplore.cli import _say_if_demo_differs
    from astroexplore.demo import make_demo_catalogue

    path = make_demo_catalogue(tmp_path, n=30, seed=0, progress=False)
    _say_if_demo_differs(path, 30, 0)
    assert capsys.readouterr().err == ""
    _say_if_demo_differs(path, 5000, 0)
    assert "30 galaxies, not --n 5,000" in capsys.readouterr().err


def test_embedding_columns_option_takes_names_and_patterns(z_catalogue, capsys):
    assert main(["validate", str(z_catalogue), "--embedding-columns", "mag_*, z_1"]) == 0
    assert "features:     3 " in capsys.readouterr().out
    assert main(["scores", str(z_catalogue), "--embedding-columns", "z_*", "--kernel-trees", "0"]) == 0
    assert main(["validate", str(z_catalogue), "--embedding-columns", "q_*"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no column matches the embedding pattern 'q_*'" in err
    with pytest.raises(SystemExit) as ex:  # one way of naming the embedding at a time
        main(["validate", str(z_catalogue), "--embedding-columns", "z_*", "--embedding-prefix", "z_"])
    assert ex.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


@pytest.mark.shared_data
def test_a_gz2_vote_table_is_served_with_its_debiased_fractions_as_the_embedding(shared_data, capsys):
    gz2 = shared_data / "gz2_stripe82" / "gz2_stripe82_table5.csv.gz"
    assert main(["validate", str(gz2)]) == 1  # no embedding: the error says how to use the votes
    assert "--embedding-columns '*_debiased'" in capsys.readouterr().err
    assert main(["validate", str(gz2), "--embedding-columns", "*_debiased"]) == 0
    out = capsys.readouterr().out
    assert "galaxies:     19,761" in out and "features:     37 " in out and "schema:       GZ2" in out


def test_image_template_and_column_options(tmp_path, capsys):
    df = pd.DataFrame({"id": ["a", "b"], "ra": [10.5, 11.0], "dec": [-2.25, 3.0], "feat_0": [0.0, 1.0],
                       "feat_1": [1.0, 0.0], "cutout": ["a.png", "b.png"]})
    path = tmp_path / "t.parquet"
    df.to_parquet(path, index=False)
    template = "https://www.legacysurvey.org/viewer/cutout.jpg?ra={ra}&dec={dec}&layer=ls-dr10"
    assert main(["validate", str(path), "--image-template", template]) == 0
    assert ("first galaxy: https://www.legacysurvey.org/viewer/cutout.jpg?ra=10.5&dec=-2.25&layer=ls-dr10"
            in capsys.readouterr().out)
    assert main(["validate", str(path), "--image-template", "https://x/{pixscale}"]) == 1
    assert "needs column 'pixscale'" in capsys.readouterr().err
    assert main(["validate", str(path), "--image-column", "cutout"]) == 0
    assert "images:       column 'image' (e.g. " + str(tmp_path / "a.png") in capsys.readouterr().out


@pytest.mark.parametrize("command", ["validate", "scores", "rank", "similar", "match", "project", "serve"])
def test_the_catalogue_help_names_every_format_it_reads(command, capsys):
    """FITS catalogues load, but the help named only .parquet, .csv, .npy and .h5."""
    with pytest.raises(SystemExit):
        main([command, "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "catalogue: .parquet, .csv, a FITS table (.fits), .npy (with --ids) or Zoobot .h5" in help_text


def test_match_help_says_the_columns_as_they_are_written(tmp_path, capsys):
    """The list's ra and dec come first (in degrees, whatever the list named them), then its other columns."""
    cat = tmp_path / "c.parquet"
    pd.DataFrame({"id": ["a", "b", "c"], "ra": [10.0, 20.0, 30.0], "dec": [1.0, 2.0, 3.0],
                  "feat_0": [0.0, 1.0, 2.0], "feat_1": [1.0, 0.0, 1.0]}).to_parquet(cat)
    (tmp_path / "list.csv").write_text("name,ra,dec\nx,10.0,1.0\n")
    assert main(["match", str(cat), str(tmp_path / "list.csv"), str(tmp_path / "m.csv")]) == 0
    assert pd.read_csv(tmp_path / "m.csv").columns[:5].tolist() == ["ra", "dec", "name", "line", "id"]
    with pytest.raises(SystemExit):
        main(["match", "--help"])
    assert "ra, dec (degrees), the list's other columns, then id," in " ".join(capsys.readouterr().out.split())
