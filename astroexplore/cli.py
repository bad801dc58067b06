"""The ``astroexplore`` command line.

Each sub-command is a thin shell over the library (everything here a script can do too).
Heavy modules are imported inside the handlers so ``astroexplore --help`` is instant.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from astroexplore.constants import ANONYMOUS, MAX_SCORE, MIN_SCORE, RankingMethod

DEFAULT_DEMO_DIR = Path("data") / "demo"
#: what the commands that write a table (rank, labels finds) write, by the output's suffix
TABLE_SUFFIXES = (".csv", ".parquet", ".pq", ".fits", ".fit")
#: what ``labels export`` writes, by the output's suffix
LABEL_EXPORT_SUFFIXES = (".csv", ".parquet", ".pq")
#: the most trees ``scores --kernel-trees`` caches: 10x the app's 100 (its leaf ids, n_galaxies x
#: trees int16, are 2 GB for 1M galaxies there; 100M trees ran 41 min and took 22 GB on 3,000)
MAX_KERNEL_TREES = 1000
#: the largest seed scikit-learn's detectors take (a numpy RandomState seed)
MAX_SEED = 2**32 - 1
MAX_PORT = 65535


def load_options(args: argparse.Namespace) -> dict:
    """The :func:`~astroexplore.catalogue.load_catalogue` keywords given on the command line."""
    columns = getattr(args, "embedding_columns", None)
    return {"ids": args.ids, "id_column": args.id_column, "embedding_prefix": args.embedding_prefix,
            "embedding_columns": [c.strip() for c in columns.split(",") if c.strip()] if columns else None,
            "posteriors": getattr(args, "posteriors", None), "image_column": getattr(args, "image_column", None),
            "image_template": getattr(args, "image_template", None), **_gz2_schema(args)}


def _gz2_schema(args: argparse.Namespace) -> dict:
    """``{"schema": ...}`` for ``--gz2-fractions`` (GZ2's tree reading that flavour), or {}."""
    flavour = getattr(args, "gz2_fractions", None)
    if flavour is None:
        return {}
    from astroexplore.schemas import gz2_schema

    return {"schema": gz2_schema(flavour)}


def _load(args: argparse.Namespace):
    from astroexplore.catalogue import load_catalogue

    return load_catalogue(args.path, **load_options(args))


def _cmd_validate(args: argparse.Namespace) -> int:
    from astroexplore.catalogue import describe_catalogue

    print(describe_catalogue(_load(args)))
    return 0


def _cmd_make_demo(args: argparse.Namespace) -> int:
    from astroexplore.demo import make_demo_catalogue

    path = make_demo_catalogue(args.out_dir, n=args.n, seed=args.seed)
    print(f"demo catalogue written to {path}")
    return 0


def _cmd_labels(args: argparse.Namespace) -> int:
    """Problems (a bad file, an unknown id) are raised as LabelError / CatalogueError / OSError:
    :func:`main` prints them as one ``error:`` line, exit status 1."""
    from astroexplore.errors import LabelError
    from astroexplore.labels import LabelStore

    if args.labels_command == "recover":
        from astroexplore.labels import recover_store

        report = recover_store(args.store, args.out)
        print(f"recovered {report['recovered']:,} of {report['highest_event_id']:,} label events from "
              f"{args.store} into {args.out}" + (f" ({report['lost']:,} unreadable or invalid, left out)"
                                                 if report["lost"] else ""))
        return 0
    new_store = not Path(args.store).exists()
    if args.labels_command == "export":
        if new_store:
            raise LabelError(f"{args.store}: no label store here (check the path; "
                             "usage: astroexplore labels export STORE OUT)")
        _table_out(args.out, "the labels", args, LABEL_EXPORT_SUFFIXES)
    valid_ids = catalogue = None
    if getattr(args, "catalogue", None):
        from astroexplore.catalogue import load_catalogue

        catalogue = load_catalogue(args.catalogue, **load_options(args))
        valid_ids = None if args.labels_command == "export" else catalogue.ids
    try:
        with LabelStore(args.store, valid_ids=valid_ids,
                        read_only=args.labels_command == "export") as store:
            if args.labels_command == "export":
                out = Path(args.out)
                write = store.export_parquet if out.suffix.lower() in (".parquet", ".pq") else store.export_csv
                write(out, catalogue=catalogue)
                n_rows, n_galaxies = len(store.latest()), store.count()
                print(f"exported {n_rows} labels ({n_galaxies} galaxies) to {out}")
            else:
                read = store.import_parquet if Path(args.csv).suffix.lower() in (".parquet", ".pq") \
                    else store.import_csv
                n = read(args.csv, user=args.user, catalogue=catalogue)
                where = f"the new label store {args.store}" if new_store else str(args.store)
                print(f"imported {n} label{'' if n == 1 else 's'} from {args.csv} into {where}"
                      + ("" if n else " (nothing new: every row is already in the store; an import never takes back a "
                                    "later label: to change a score, score the galaxy again)"))
                if catalogue is None:
                    print("note: no --catalogue: the ids were not checked to be galaxies of your catalogue "
                          "(nor their ra/dec, where the file has them); labels for ids it lacks are kept "
                          "but never used", file=sys.stderr)
    except BaseException:
        # a failed import leaves no empty store behind (a mistyped path would hide), but never
        # removes one that another process (the app) has written to meanwhile
        if new_store and Path(args.store).exists() and LabelStore(args.store).close_if_empty():
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{args.store}{suffix}").unlink(missing_ok=True)
        raise
    return 0


def _cmd_finds(args: argparse.Namespace) -> int:
    """``labels finds``: :meth:`Explorer.labelled_table` of a catalogue's label store, to CSV or
    Parquet. Problems are raised (one ``error:`` line, exit status 1)."""
    from astroexplore.catalogue import load_catalogue
    from astroexplore.errors import LabelError
    from astroexplore.explorer import Explorer
    from astroexplore.labels import LabelStore, default_store_path

    out = _table_out(args.out, "the finds", args)
    store_path = Path(args.labels) if args.labels else default_store_path(args.catalogue)
    if not store_path.exists():
        raise LabelError(f"{store_path}: no label store here (give it with --labels)")
    catalogue = load_catalogue(args.catalogue, **load_options(args))
    with LabelStore(store_path, read_only=True) as store:
        table = Explorer(catalogue, store, cache=False).labelled_table(
            min_score=args.min_score, user=args.user, tag=args.tag)
    _write_table(table, out)
    who = f"{args.user}'s" if args.user else "everyone's mean"
    tag = f", tagged {args.tag}" if args.tag else ""
    print(f"wrote {len(table):,} galaxies scored {args.min_score:g} or more ({who}{tag}) from {store_path} "
          f"to {out}")
    return 0


#: the arguments of the commands that write a table which name files they read, and what they are
_INPUT_ARGUMENTS = {"path": "catalogue", "catalogue": "catalogue", "ids": "ids table",
                    "posteriors": "posteriors table", "positions": "list of positions"}


def _table_out(path: str, what: str, args: argparse.Namespace | None = None,
               suffixes: tuple[str, ...] = TABLE_SUFFIXES) -> Path:
    """The output of a command that writes a table: a path with one of ``suffixes``
    (LabelError otherwise), not one of the files ``args`` reads (the catalogue, its ids or
    posteriors, a positions list: written over, they would be lost), its folder made if missing
    (as ``embed --out``), before any work is done."""
    from astroexplore.errors import LabelError

    out = Path(path)
    if out.suffix.lower() not in suffixes:
        kinds = [s for s in suffixes if s not in (".pq", ".fit")]  # their other spellings
        raise LabelError(f"{out}: write {what} to a {', '.join(kinds[:-1])} or {kinds[-1]} file")
    if out.is_dir():
        raise LabelError(f"{out}: a folder; give the file to write {what} to")
    for name, kind in _INPUT_ARGUMENTS.items():
        given = getattr(args, name, None)
        if isinstance(given, str) and _same_file(out, Path(given)):
            raise LabelError(f"{out}: this is the {kind} this command reads; write {what} to another file")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise LabelError(f"{out}: cannot make its folder {out.parent} ({err.strerror or err})") from None
    return out


def _same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file (through links, ``..`` or another spelling)."""
    try:
        return a.exists() and b.exists() and a.samefile(b) or a.resolve() == b.resolve()
    except OSError:
        return False


def _fits_names(columns) -> dict[str, str]:
    """New names for the columns that FITS would take for an earlier one (it compares names
    without regard to case: a list's own 'RA' beside our 'ra' made astropy's readers fail with
    "Ambiguous key name"): the later one gets '_2' (TOPCAT's way), '_3', ...

    >>> _fits_names(["ra", "dec", "RA", "Dec", "name"])
    {'RA': 'RA_2', 'Dec': 'Dec_2'}
    """
    seen, renamed = set(), {}
    for name in map(str, columns):
        new, k = name, 1
        while new.lower() in seen:
            k += 1
            new = f"{name}_{k}"
        seen.add(new.lower())
        if new != name:
            renamed[name] = new
    return renamed


def _write_table(table, out: Path) -> None:
    """``table`` as CSV, Parquet or a FITS binary table (ra/dec in degrees, for TOPCAT or Aladin),
    by ``out``'s suffix."""
    suffix = out.suffix.lower()
    if suffix == ".csv":
        table.to_csv(out, index=False)
    elif suffix in (".fits", ".fit"):
        from astropy.table import Table

        fits = Table.from_pandas(table.rename(columns=_fits_names(table.columns)))
        for name in ("ra", "dec", "galaxy_ra", "galaxy_dec"):
            if name in fits.colnames:
                fits[name].unit = "deg"
        if "separation_arcsec" in fits.colnames:
            fits["separation_arcsec"].unit = "arcsec"
        fits.write(out, format="fits", overwrite=True)
    else:
        table.to_parquet(out, index=False)


def _cmd_rank(args: argparse.Namespace) -> int:
    """``rank``: :meth:`Explorer.ranking_table` after learning from the stored labels (as the app
    does when a window opens), filtered as a link's ``answers`` / ``ranges`` say; ``--link`` takes
    an app link's method, filter and ``labelled=in-place`` (its other parts, the galaxy, tab and
    map, do not change a ranking). Problems are raised (one ``error:`` line, exit status 1)."""
    import contextlib
    import tempfile
    import time

    from astroexplore.constants import DETECTORS
    from astroexplore.errors import CatalogueError
    from astroexplore.explorer import Explorer
    from astroexplore.filter_text import decode_labelled
    from astroexplore.labels import LabelStore

    out = _table_out(args.out, "the ranking", args)
    link = _read_link(args)
    method_name = args.method or link.get("method") or RankingMethod.COMBINED.value
    if method_name not in [m.value for m in RankingMethod]:
        raise CatalogueError(f"--link: method '{method_name}' is not one of "
                             f"{', '.join(m.value for m in RankingMethod)}")
    try:
        in_place = args.labelled_in_place or decode_labelled(link.get("labelled", "")) is False
    except ValueError as err:
        raise CatalogueError(f"--link: {err}") from None
    catalogue = _load(args)
    mask, n_match, read = _filter_mask(args, catalogue, link)
    store_path = _labels_to_read(args)
    with contextlib.ExitStack() as stack:
        if store_path.exists():
            store = stack.enter_context(LabelStore(store_path, read_only=True))
        else:  # no labels yet: an empty store of our own, not one left beside the catalogue
            store = stack.enter_context(LabelStore(Path(stack.enter_context(tempfile.TemporaryDirectory()))
                                                   / "none.labels.sqlite"))
        ex = Explorer(catalogue, store)
        method = RankingMethod(method_name)
        if ex.n_training_labels:  # also for a detector's ranking: the table's predicted interest
            t0 = time.perf_counter()
            report = ex.retrain()
            learnt = f", learnt from {report['n_labels']:,} labels in {time.perf_counter() - t0:.1f} s"
        else:
            learnt = "" if method in DETECTORS or method is RankingMethod.RANDOM else \
                ", no labels to learn from (the anomaly score alone)"
        table = ex.ranking_table(method, top=args.top, mask=mask, unlabelled_first=not in_place, columns=read)
    _write_table(table, out)
    passing = "" if mask is None else f" ({n_match:,} of {catalogue.n_galaxies:,} pass the filter)"
    print(f"wrote the top {len(table):,} galaxies by {method}{passing}{learnt} to {out}")
    return 0


#: the parts of an app link each command that takes --link reads
LINK_KEYS_READ = {"rank": ("method", "answers", "ranges", "labelled"), "similar": ("search", "k", "answers", "ranges")}


def _read_link(args: argparse.Namespace) -> dict:
    """The query of ``--link`` ({} without one): CatalogueError when none of its parts is one of an
    app link ('garbage', a mistyped '?mehtod=lof': it would silently give the default), a warning
    naming those that are not (left out) beside ones that are."""
    from astroexplore.errors import CatalogueError, did_you_mean
    from astroexplore.filter_text import APP_LINK_KEYS, link_query

    if not args.link:
        return {}
    if "=" not in args.link:  # a path, a word: no query at all
        raise CatalogueError(f"--link: {args.link!r} is not a link of the app (no '?key=value' part): copy "
                             "it with the app's 'Copy link to this view'")
    link = link_query(args.link)
    unknown = [key for key in link if key not in APP_LINK_KEYS]
    if not unknown:
        return link
    reads = LINK_KEYS_READ[args.command]
    named = ", ".join(f"'{key}'" for key in unknown)
    hints = "".join(dict.fromkeys(did_you_mean(key, reads) for key in unknown))
    what = (f"{named} {'is' if len(unknown) == 1 else 'are'} not part of an app link.{hints} "
            f"{args.command} reads its {', '.join(reads[:-1])} and {reads[-1]}")
    if len(unknown) == len(link):
        raise CatalogueError(f"--link: {what}: copy the link with the app's 'Copy link to this view'")
    print(f"warning: --link: {what}; left out", file=sys.stderr)
    return {key: value for key, value in link.items() if key not in unknown}


def _labels_to_read(args: argparse.Namespace) -> Path:
    """The label store a command reads: ``--labels`` (CatalogueError when there is none there),
    else the one beside the catalogue, which may not exist yet."""
    from astroexplore.errors import CatalogueError
    from astroexplore.labels import default_store_path

    store_path = Path(args.labels) if args.labels else default_store_path(args.path)
    if args.labels and not store_path.exists():
        raise CatalogueError(f"{store_path}: no label store here (check --labels)")
    return store_path


def _filter_mask(args: argparse.Namespace, catalogue, link: dict) -> tuple:
    """(mask or None, number of galaxies passing, the columns the filter reads) of ``--answers`` /
    ``--ranges``, else of an app link's filter; CatalogueError naming every condition that does
    not fit, or when none passes."""
    from astroexplore.errors import CatalogueError
    from astroexplore.filter_text import decode_answers, decode_ranges, selection_columns, selection_mask

    answers = link.get("answers", "") if args.answers is None else args.answers
    ranges_text = link.get("ranges", "") if args.ranges is None else args.ranges
    flt, problems = decode_answers(answers, catalogue.schema)
    ranges, more = decode_ranges(ranges_text, catalogue)
    if problems or more:
        raise CatalogueError(f"{args.path}: " + "; ".join([*problems, *more]))
    mask = selection_mask(catalogue, flt, ranges)
    n_match = catalogue.n_galaxies if mask is None else int(mask.sum())
    if n_match == 0:
        raise CatalogueError(f"{args.path}: no galaxy passes the filter (--answers / --ranges)")
    return mask, n_match, selection_columns(flt, ranges)


def _similar_query(args: argparse.Namespace, link: dict) -> str:
    """The search ``similar`` runs, written as a link writes it, from the one query option given
    (``--positions`` aside); CatalogueError naming the option whose value does not fit."""
    from astroexplore.errors import CatalogueError
    from astroexplore.search import parse_position
    from astroexplore.similar import MAX_LINK_POSITIONS, position_query

    if args.galaxy is not None:
        return f"galaxy:{args.galaxy}"
    if args.position is not None:
        try:  # also a Legacy Survey viewer link
            return position_query(*parse_position(args.position))
        except ValueError as err:
            raise CatalogueError(f"--position: {err}") from None
    if args.tag is not None:
        from astroexplore.labels import normalise_tag

        try:
            return f"tag:{normalise_tag(args.tag)}"  # as the labels store it: 'Ring' is '#ring'
        except ValueError as err:
            raise CatalogueError(f"--tag: {err}") from None
    search = link.get("search", "")
    if not search:
        raise CatalogueError("--link: this link holds no similarity search (no 'search=' part): copy it "
                             "from the Similarity tab after a search (a list of more than "
                             f"{MAX_LINK_POSITIONS} known objects is not written in links: give it with --positions)")
    if search.strip() == "tag:":
        raise CatalogueError("--link: its search 'tag:' names no tag (a '#' in a link is written %23: "
                             "tag:%23ring)")
    return search


def _similar_k(args: argparse.Namespace, link: dict, n_galaxies: int) -> int:
    """``--k``, else the link's ``k`` (checked as the app checks it), else the app's default; at
    most every other galaxy."""
    from astroexplore.errors import CatalogueError
    from astroexplore.similar import DEFAULT_K, parse_k

    k = args.k
    if k is None and link.get("k", "").strip():
        try:
            k = parse_k(link["k"])
        except ValueError as err:
            raise CatalogueError(f"--link: {err}") from None
    return max(1, min(DEFAULT_K if k is None else k, n_galaxies - 1))


def _check_similar_options(args: argparse.Namespace) -> None:
    """The options ``similar`` can refuse before reading anything."""
    from astroexplore.errors import CatalogueError

    if args.radius is not None:
        if args.positions is None:
            raise CatalogueError("--radius goes with --positions (the match radius of the known objects)")
        from astroexplore.similar import check_match_radius
        try:
            check_match_radius(args.radius)
        except ValueError as err:
            raise CatalogueError(f"--radius: {err}") from None
    if args.user is not None and not args.user.strip():
        raise CatalogueError("--user: give a user name (the labels are stored with it)")


def _cmd_similar(args: argparse.Namespace) -> int:
    """``similar``: the galaxies most like a galaxy, a sky position, a list of known objects or a
    tag's galaxies (:mod:`astroexplore.similar`, as the app's Similarity tab), with their catalogue
    columns, to CSV, Parquet or FITS. Problems are raised (one ``error:`` line, exit status 1)."""
    import contextlib

    from astroexplore.catalogue import with_catalogue_columns
    from astroexplore.labels import LabelStore, with_user_labels

    out = _table_out(args.out, "the similar galaxies", args)
    _check_similar_options(args)
    link = _read_link(args)
    search = None if args.positions is not None else _similar_query(args, link)
    catalogue = _load(args)
    k = _similar_k(args, link, catalogue.n_galaxies)
    mask, n_match, read = _filter_mask(args, catalogue, link)
    store_path = _labels_to_read(args)
    user = None if args.user is None else args.user.strip()
    needs_store = user is not None or (search or "").startswith("tag:")
    with contextlib.ExitStack() as stack:
        store = stack.enter_context(LabelStore(store_path, read_only=True)) \
            if needs_store and store_path.exists() else None
        found = _run_similar(args, catalogue, search, k, mask, store, store_path)
        table = found.result.to_frame(catalogue)
        if user is not None:  # which of them this user scored already, as the tab's CSV says
            table = with_user_labels(table, store, user)
            if store is None or not store.count(user):
                print(f"warning: {user} has no labels in {store_path} (the user name as the app stores it?)",
                      file=sys.stderr)
    table = with_catalogue_columns(table, catalogue, rows=found.result.indices, also=read)
    _write_table(table, out)
    passing = "" if mask is None else f", among the {n_match:,} of {catalogue.n_galaxies:,} that pass the filter"
    what = re.sub(r"^galaxies\b", "galaxy", found.what) if len(table) == 1 else found.what
    print(f"wrote {len(table):,} {what}{passing} to {out} (query: {found.search or found.query_text})")
    if found.warning:
        print(f"warning: {found.warning}", file=sys.stderr)
    return 0


def _run_similar(args: argparse.Namespace, catalogue, search: str | None, k: int, mask, store, store_path: Path):
    """The :class:`~astroexplore.similar.Similar` of ``search`` (or of ``--positions``); a problem
    with the catalogue or the labels is a CatalogueError naming the catalogue."""
    from astroexplore import similar
    from astroexplore.errors import CatalogueError

    try:
        if search is None:
            from astroexplore.crossmatch import DEFAULT_MATCH_ARCSEC, read_positions

            radius = DEFAULT_MATCH_ARCSEC if args.radius is None else args.radius
            return similar.from_known_objects(catalogue, None, read_positions(Path(args.positions)),
                                              radius, k, mask=mask)
        return similar.run_search(catalogue, None, search, k, mask=mask, store=store)
    except ValueError as err:
        if isinstance(err, CatalogueError) and err.file:
            raise  # names its file already
        hint = f" (no label store at {store_path})" if store is None and "no galaxy carries the tag" in str(err) else ""
        raise CatalogueError(f"{args.path}: {err}{hint}") from None


def _serve(path: Path, args: argparse.Namespace) -> int:
    try:
        from astroexplore.ui.serve import serve
    except ImportError as err:  # pragma: no cover - only before the UI exists
        print(f"The app is not available in this installation ({err}).", file=sys.stderr)
        return 2
    serve(path, port=args.port, address=args.address, show=args.show,
          labels=args.labels, user=args.user, load_options=load_options(args) if "ids" in args else None)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from astroexplore.demo import demo_catalogue_path, make_demo_catalogue

    path = demo_catalogue_path(args.dir)
    if not path.exists():
        print(f"generating the demo survey ({args.n} galaxies) in {args.dir} ...")
        path = make_demo_catalogue(args.dir, n=args.n, seed=args.seed)
    else:
        _say_if_demo_differs(path, args.n, args.seed)
    return _serve(path, args)


def _say_if_demo_differs(path: Path, n: int, seed: int) -> None:
    """Warn when the demo already in ``path`` was made with another ``--n`` / ``--seed``."""
    import pyarrow.parquet as pq

    made = pq.read_metadata(path).num_rows
    if made != n:
        print(f"note: serving the demo survey already in {path.parent} ({made:,} galaxies, not --n {n:,}); "
              "delete it or pass another --dir to generate a new one", file=sys.stderr)
    elif seed != 0:
        print(f"note: serving the demo survey already in {path.parent}; --seed applies only when "
              "one is generated (delete it or pass another --dir)", file=sys.stderr)


def _cmd_serve(args: argparse.Namespace) -> int:
    return _serve(Path(args.path), args)


def _cmd_scores(args: argparse.Namespace) -> int:
    from astroexplore.detectors import compute_scores

    cat = _load(args)
    for method in args.method:
        scores = compute_scores(cat, method, seed=args.seed, cache=True)
        print(f"{method}: cached {len(scores.raw)} scores in {cat.cache_dir}")
    if args.kernel_trees:
        from astroexplore.isolation_kernel import isolation_paths

        paths = isolation_paths(cat, n_trees=args.kernel_trees, seed=args.seed, cache=True)
        print(f"isolation paths: cached {paths.n_galaxies} x {paths.n_trees} leaf ids in {cat.cache_dir}")
    return 0


def _cmd_match(args: argparse.Namespace) -> int:
    """``match``: :func:`~astroexplore.crossmatch.crossmatch` of a list of positions to the
    catalogue, written with the list's own columns. Problems are raised (one ``error:`` line)."""
    from astroexplore.catalogue import load_catalogue
    from astroexplore.crossmatch import DEFAULT_MATCH_ARCSEC, crossmatch, position_names, read_positions

    if args.label is None:
        given = [f"--{name}" for name in ("tags", "user", "labels") if getattr(args, name) is not None]
        if given:
            from astroexplore.errors import LabelError
            raise LabelError(f"{', '.join(given)} go{'es' if len(given) == 1 else ''} with --label SCORE "
                             "(which labels the matched galaxies)")
    out = _table_out(args.out, "the matches", args)
    positions = read_positions(Path(args.positions))
    catalogue = load_catalogue(args.path, **load_options(args))
    radius = DEFAULT_MATCH_ARCSEC if args.radius is None else args.radius
    match = crossmatch(catalogue, positions["ra"], positions["dec"], radius_arcsec=radius)
    _write_table(match.to_frame(catalogue, positions), out)
    print(f"{match.summary(position_names(positions))}. Wrote {len(match):,} rows to {out}")
    if args.label is not None:
        _label_matched(args, catalogue, match)
    return 0


def _label_matched(args: argparse.Namespace, catalogue, match) -> None:
    """``match --label``: the matched galaxies labelled at once (:meth:`Explorer.label_many`, as
    the app's "Label N galaxies") in the store beside the catalogue, or ``--labels``."""
    from astroexplore.errors import LabelError
    from astroexplore.explorer import Explorer
    from astroexplore.labels import LabelStore, _normalise_tags, default_store_path

    if not match.n_matched:
        raise LabelError("no position matched a galaxy: nothing to label")
    _normalise_tags(args.tags)  # a bad tag is said before a store is made
    store_path = Path(args.labels) if args.labels else default_store_path(args.path)
    with LabelStore(store_path) as store:  # label_many checks the ids against the catalogue
        done = Explorer(catalogue, store, user=args.user or ANONYMOUS, cache=False).label_many(
            catalogue.ids[match.galaxy_rows], args.label, tags=args.tags or ())
    print(f"{done.summary()} (in {store_path}, as {args.user or ANONYMOUS})")


def _cmd_project(args: argparse.Namespace) -> int:
    from astroexplore.projection import compute_umap, projection

    cat = _load(args)
    if args.method == "umap":
        compute_umap(cat, progress=True)
    else:
        projection(cat, method="pca")
    print(f"{args.method} projection cached in {cat.cache_dir}")
    return 0


def _cmd_reduce(args: argparse.Namespace) -> int:
    """``reduce``: :func:`~astroexplore.reduce.reduce_catalogue`, then what to run next."""
    import shlex

    from astroexplore.labels import default_store_path
    from astroexplore.reduce import reduce_catalogue

    options = load_options(args)
    done = reduce_catalogue(args.path, args.out, args.components, fit_rows=args.fit_rows, seed=args.seed,
                            basis=args.basis, ids=options["ids"], id_column=options["id_column"],
                            embedding_columns=options["embedding_columns"],
                            embedding_prefix=options["embedding_prefix"], overwrite=args.overwrite)
    print(done.summary())
    old_store = default_store_path(args.path)
    keep = f" --labels {shlex.quote(str(old_store))}" if old_store.exists() else ""
    print(f"next:      astroexplore serve {shlex.quote(str(done.path))}{keep}"
          + ("   (the labels given on the wide catalogue: same ids)" if keep else ""))
    return 0


def _add_serve_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=_at_least(0, MAX_PORT), default=5006,
                   help=f"port to serve on, 0 to {MAX_PORT} (default 5006; 0 picks a free one)")
    p.add_argument("--address", default="localhost",
                   help="address to bind (default localhost; use 0.0.0.0 to share on a network)")
    p.add_argument("--show", action="store_true", help="open a browser tab")
    p.add_argument("--labels", default=None,
                   help="SQLite label store (default: <catalogue>.labels.sqlite beside the catalogue)")
    p.add_argument("--user", default=None, help="user name for labels (default: ask in the app)")


def _at_least(low: int, high: int | None = None):
    """argparse type: an int >= ``low`` (and <= ``high``, when given)."""
    def parse(text: str) -> int:
        value = int(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high}, got {value}")
        return value
    parse.__name__ = f"int >= {low}" if high is None else f"int from {low} to {high}"
    return parse


def _number_between(low: float, high: float):
    """argparse type: a float from ``low`` to ``high``."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not low <= value <= high:  # also NaN
            raise argparse.ArgumentTypeError(f"must be from {low:g} to {high:g}, got {text}")
        return value
    parse.__name__ = f"number from {low:g} to {high:g}"
    return parse


def _positive_number(text: str) -> float:
    """argparse type: a finite float > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text}")
    return value


def add_catalogue_arguments(p: argparse.ArgumentParser) -> None:
    """The catalogue argument and the options that say how to read it (every loading command)."""
    p.add_argument("path", help="catalogue: .parquet, .csv, a FITS table (.fits), .npy (with --ids) or Zoobot .h5")
    add_loading_options(p)


def add_embedding_options(p: argparse.ArgumentParser) -> None:
    """The options that say where a catalogue's ids and embedding are (loading, ``reduce``)."""
    p.add_argument("--ids", help="table holding the ids for a .npy embedding file")
    p.add_argument("--id-column", help="name of the id column (default: detected)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--embedding-prefix", help="prefix of the embedding columns (default: detected)")
    which.add_argument("--embedding-columns", metavar="NAMES",
                       help="the embedding columns, comma-separated, in order; shell-style patterns "
                            "stand for every matching column ('*_debiased': GZ2's vote fractions)")


def add_loading_options(p: argparse.ArgumentParser) -> None:
    """The options that say how to read a catalogue."""
    add_embedding_options(p)
    p.add_argument("--posteriors", help="table of morphology posteriors to join on the id")
    p.add_argument("--gz2-fractions", choices=("fraction", "weighted_fraction", "debiased"), default=None,
                   help="which of GZ2's vote fractions the morphology filter, the card and the map read "
                        "(default: the raw '*_fraction'; Willett et al. 2013 advise the debiased ones "
                        "for morphology samples)")
    images = p.add_mutually_exclusive_group()
    images.add_argument("--image-column", help="column of image paths or URLs (default: detected)")
    images.add_argument("--image-template", metavar="TEMPLATE",
                        help="image path or URL of each galaxy, filled from its columns, e.g. "
                             "'https://www.legacysurvey.org/viewer/cutout.jpg?ra={ra}&dec={dec}"
                             "&layer=ls-dr10&pixscale=0.262' (the browser loads URLs) or 'cutouts/{id}.png'")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="astroexplore", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check a catalogue and print a summary (non-zero exit on error)")
    add_catalogue_arguments(p)
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("make-demo", help="generate the synthetic demo survey")
    p.add_argument("out_dir")
    p.add_argument("--n", type=_at_least(2), default=20000, help="number of galaxies (default 20000)")
    p.add_argument("--seed", type=_at_least(0), default=0)
    p.set_defaults(func=_cmd_make_demo)

    p = sub.add_parser("labels", help="export, import or recover labels, or list the finds")
    lsub = p.add_subparsers(dest="labels_command", required=True)
    e = lsub.add_parser("export", help="write every current label to CSV or Parquet")
    e.add_argument("store", help="SQLite label store")
    e.add_argument("out", help="output .csv or .parquet")
    e.add_argument("--catalogue", default=None, help="add each galaxy's ra/dec from this catalogue "
                   "(read with the options below): a follow-up list")
    add_loading_options(e)
    e.set_defaults(func=_cmd_labels)
    i = lsub.add_parser("import", help="read labels from CSV (ours, or Astronomaly's ml_scores.csv) or "
                        "from our Parquet export")
    i.add_argument("store")
    i.add_argument("csv")
    i.add_argument("--user", default=None, help="user name for rows that have none")
    i.add_argument("--catalogue", default=None, help="reject ids not in this catalogue, and rows whose "
                   "ra/dec (an export written with --catalogue) are not where that id's galaxy is: labels "
                   "of another catalogue that uses the same ids (read with the options below)")
    add_loading_options(i)
    i.set_defaults(func=_cmd_labels)
    f = lsub.add_parser("finds", help="write the galaxies scored so far, best first (the app's Labelled "
                        "tab): ra/dec, score, labels, tags, notes, last label time, the catalogue's columns")
    f.add_argument("catalogue", help="the catalogue the labels are of")
    f.add_argument("out", help="output .csv, .parquet or .fits")
    f.add_argument("--labels", default=None, help="label store (default: beside the catalogue)")
    f.add_argument("--min-score", type=_number_between(MIN_SCORE, MAX_SCORE), default=4.0,
                   help=f"keep galaxies scored at least this, {MIN_SCORE} to {MAX_SCORE} (the mean over users, "
                        "or --user's score; default 4)")
    f.add_argument("--user", default=None, help="only this user's labels (default: every user's)")
    f.add_argument("--tag", default=None, help="only galaxies whose labels carry this tag (e.g. '#ring')")
    add_loading_options(f)
    f.set_defaults(func=_cmd_finds)
    r = lsub.add_parser("recover", help="copy the labels a damaged store still holds into a new store")
    r.add_argument("store", help="the damaged label store (only read)")
    r.add_argument("out", help="the new label store (must not exist)")
    r.set_defaults(func=_cmd_labels)

    p = sub.add_parser("demo", help="generate the demo survey if needed and serve the app")
    p.add_argument("--dir", default=str(DEFAULT_DEMO_DIR), help=f"demo folder (default {DEFAULT_DEMO_DIR})")
    p.add_argument("--n", type=_at_least(2), default=20000)
    p.add_argument("--seed", type=_at_least(0), default=0)
    _add_serve_options(p)
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("serve", help="serve the app on a catalogue")
    add_catalogue_arguments(p)
    _add_serve_options(p)
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("scores", help="compute and cache unsupervised anomaly scores")
    add_catalogue_arguments(p)
    p.add_argument("--method", nargs="+", default=["isolation_forest"],
                   choices=["isolation_forest", "lof", "knn"])
    p.add_argument("--seed", type=_at_least(0, MAX_SEED), default=0,
                   help=f"seed of the detectors' randomness, 0 to {MAX_SEED} (default 0)")
    p.add_argument("--kernel-trees", type=_at_least(0, MAX_KERNEL_TREES), default=100,
                   help="also cache the leaf ids of the isolation-kernel forest the combined ranking "
                        f"learns along (0: skip; default 100, the app's); at most {MAX_KERNEL_TREES}: the ids "
                        f"take 2 bytes per galaxy and tree (2 GB for 1M galaxies at {MAX_KERNEL_TREES}), "
                        "and the time grows with the trees")
    p.set_defaults(func=_cmd_scores)

    p = sub.add_parser("rank", help="write the top N galaxies of a ranking, learnt from the stored "
                                    "labels, to CSV, Parquet or FITS (the app's 'Top N (CSV)')")
    add_catalogue_arguments(p)
    p.add_argument("out", help="output .csv, .parquet or .fits")
    p.add_argument("--link", default=None, metavar="URL",
                   help="a link of the app ('Copy link to this view'): its method, filter and "
                        "labelled=in-place, which the options below override")
    p.add_argument("--method", choices=[m.value for m in RankingMethod], default=None,
                   help="the ranking (default combined: the anomaly score corrected by the labels)")
    p.add_argument("--top", type=_at_least(1), default=500, help="how many galaxies (default 500)")
    p.add_argument("--labels", default=None,
                   help="label store to learn from (default: <catalogue>.labels.sqlite beside the "
                        "catalogue, if there is one; only read)")
    p.add_argument("--answers", default=None, metavar="CONDITIONS",
                   help="Galaxy Zoo conditions as the app's links write them, "
                        "'question:answer:low..high;...' (e.g. 'smooth-or-featured:featured-or-disk:0.6..')")
    p.add_argument("--ranges", default=None, metavar="RANGES",
                   help="catalogue-column ranges, 'column:low..high;...', either bound may be empty "
                        "(e.g. 'mag_r:..17.77;redshift:0.02..0.1')")
    p.add_argument("--labelled-in-place", action="store_true",
                   help="rank labelled galaxies among the others (default: unlabelled ones first, "
                        "as in the app)")
    p.set_defaults(func=_cmd_rank)

    p = sub.add_parser("similar", help="write the galaxies most like a galaxy, a sky position, a list of "
                                       "known objects or a tag's galaxies to CSV, Parquet or FITS (the app's "
                                       "Similarity tab)",
                       description="Write the galaxies most like a query, nearest first. 'distance' is the "
                                   "Euclidean distance in the embedding space (not a distance on the sky); the "
                                   "query galaxies, and any result within 3 arcsec of one of them or of an "
                                   "earlier result (the same object twice), are left out.")
    add_catalogue_arguments(p)
    p.add_argument("out", help="output .csv, .parquet or .fits: id, ra, dec, distance (in the embedding, "
                               "nearest first), then the galaxies' catalogue columns")
    query = p.add_mutually_exclusive_group(required=True)
    query.add_argument("--galaxy", metavar="ID", help="from this galaxy (case and a trailing '.0' forgiven)")
    query.add_argument("--position", metavar="'RA DEC'",
                       help="from the catalogue galaxy nearest to this position: degrees or hh:mm:ss "
                            "+dd:mm:ss, or a Legacy Survey viewer link")
    query.add_argument("--positions", metavar="TABLE",
                       help="from the galaxies matched to a list of known objects (as `match` reads it)")
    query.add_argument("--tag", help="from the galaxies whose labels carry this tag ('#ring'; in --labels)")
    query.add_argument("--link", metavar="URL",
                       help="the search of an app link ('Copy link to this view' after a search), with "
                            "its number of results and filter, which the options below override")
    p.add_argument("--k", type=_at_least(1), default=None,
                   help="how many galaxies (default: the link's, else 24 as in the app)")
    p.add_argument("--radius", type=_positive_number, default=None, metavar="ARCSEC",
                   help="with --positions: largest separation of a match, arcsec (default 5)")
    p.add_argument("--labels", default=None,
                   help="label store of the tags (default: <catalogue>.labels.sqlite beside the catalogue; "
                        "only read)")
    p.add_argument("--user", default=None,
                   help="add this user's score and tags of each galaxy found (your_score, tags), as the "
                        "tab's download does")
    p.add_argument("--answers", default=None, metavar="CONDITIONS",
                   help="only galaxies passing these Galaxy Zoo conditions, as in `rank`")
    p.add_argument("--ranges", default=None, metavar="RANGES",
                   help="only galaxies in these catalogue-column ranges, as in `rank`")
    p.set_defaults(func=_cmd_similar)

    p = sub.add_parser("match", help="find a list of known objects (RA/Dec table or text) in the catalogue: "
                                     "each position's nearest galaxy within a radius")
    add_catalogue_arguments(p)
    p.add_argument("positions", help="CSV / Parquet / FITS table with RA and Dec columns (ra, RAJ2000, "
                                     "RA_ICRS, ...; degrees or sexagesimal), or a text file, one position a line")
    p.add_argument("out", help="output .csv, .parquet or .fits: ra, dec (degrees), the list's other columns, "
                               "then id, galaxy_ra, galaxy_dec, separation_arcsec, matched")
    p.add_argument("--radius", type=_positive_number, default=None, metavar="ARCSEC",
                   help="largest separation of a match, arcsec (default 5)")
    p.add_argument("--label", type=int, choices=range(6), default=None, metavar="SCORE",
                   help="also label the matched galaxies with this score 0-5 (the app's 'Label N "
                        "galaxies'; one the user scored keeps its score and gets --tags)")
    p.add_argument("--tags", default=None, help="with --label: tags for every matched galaxy ('#polar-ring'; two tags: '#polar-ring #lens')")
    p.add_argument("--user", default=None, help=f"with --label: whose labels (default {ANONYMOUS})")
    p.add_argument("--labels", default=None,
                   help="with --label: the label store (default: <catalogue>.labels.sqlite beside the catalogue)")
    p.set_defaults(func=_cmd_match)

    p = sub.add_parser("project", help="compute and cache the 2-D map projection (UMAP is slow: offline)")
    add_catalogue_arguments(p)
    p.add_argument("--method", choices=["umap", "pca"], default="umap")
    p.set_defaults(func=_cmd_project)

    p = sub.add_parser("reduce", help="write a catalogue with its wide embedding (Zoobot's 1280 floats) "
                                      "reduced to its principal components, read a few columns of a row group at a time")
    p.add_argument("path", help="wide catalogue: .parquet (streamed), .csv, FITS, or .npy with --ids")
    p.add_argument("out", help="reduced catalogue (.parquet); its basis goes beside it as <out>.pca.npz")
    p.add_argument("--components", type=_at_least(1), default=None,
                   help="principal components kept (default 40, as Zoobot's catalogues; with --basis, all of its)")
    p.add_argument("--fit-rows", type=_at_least(2), default=100_000,
                   help="rows the PCA is fitted on, a random sample (default 100000)")
    p.add_argument("--seed", type=_at_least(0), default=0, help="seed of the sample (default 0)")
    p.add_argument("--basis", metavar="PCA_NPZ",
                   help="apply the basis of an earlier reduction (its .pca.npz) instead of fitting one: "
                        "the same coordinates as that catalogue")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output and basis")
    add_embedding_options(p)
    p.set_defaults(func=_cmd_reduce)

    p = sub.add_parser("embed", help="train or load an encoder and embed a folder of images")
    try:
        from astroexplore.encoder.cli import add_arguments, run
    except ImportError:
        p.set_defaults(func=lambda a: (print("embed is not available yet", file=sys.stderr), 2)[1])
    else:
        add_arguments(p)
        p.set_defaults(func=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one sub-command; a problem with the user's input or files is one ``error:`` line and
    exit status 1 (a bad option: argparse's usage message and status 2)."""
    from astroexplore.errors import CatalogueError, LabelError, SchemaError

    import warnings

    args = build_parser().parse_args(argv)
    show = warnings.showwarning
    # our warnings (no ids for a .npy, ...) as one "warning:" line, like the errors, not Python's
    # "file.py:30: UserWarning:" and a line of source
    warnings.showwarning = lambda message, category, *a, **k: print(f"warning: {message}", file=sys.stderr)
    try:
        return int(args.func(args) or 0)
    except (CatalogueError, LabelError, SchemaError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except MemoryError:
        print("error: out of memory (a catalogue larger than this machine's memory? `astroexplore "
              "reduce` makes a narrower one)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        warnings.showwarning = show


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
