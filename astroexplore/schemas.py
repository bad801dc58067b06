"""Galaxy Zoo decision trees as data.

A :class:`Schema` is a tree of :class:`Question` objects; each question has :class:`Answer` objects
naming the catalogue column that holds that answer's vote fraction, and (except for the root
questions) a ``parent`` ``(question, answer)`` pair: the question is only asked of volunteers who
gave that answer. Two trees ship with the package:

- :data:`GZ_DECALS`: Galaxy Zoo DECaLS / DESI (Walmsley et al. 2022), 10 questions, 34 answers,
  columns ``"{question}_{answer}_fraction"`` (e.g. ``has-spiral-arms_yes_fraction``).
- :data:`GZ2`: Galaxy Zoo 2 (Willett et al. 2013), 11 tasks, 37 answers, columns as in the GZ2
  tables (e.g. ``t01_smooth_or_features_a01_smooth_fraction``); :func:`gz2_schema` picks the
  fraction flavour (``fraction``, ``weighted_fraction`` or ``debiased``).

Users can describe their own tree as JSON (:meth:`Schema.from_dict`, :func:`load_schema`).
Nothing here imports Panel.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from astroexplore.errors import SchemaError, did_you_mean

__all__ = [
    "Answer",
    "Question",
    "Schema",
    "GZ_DECALS",
    "GZ2",
    "GZ2_FLAVOURS",
    "gz_decals_schema",
    "gz2_schema",
    "detect_schema",
    "load_schema",
    "builtin_schemas",
]

#: Fraction flavours of the GZ2 tables (Willett et al. 2013, table 5 columns).
GZ2_FLAVOURS = ("fraction", "weighted_fraction", "debiased")


#: the suffixes of an answer's vote fraction: GZ2's raw, weighted and debiased, GZ DECaLS' one
_FRACTION_FLAVOURS = ("_weighted_fraction", "_fraction", "_debiased")


def _answer_base(column: str) -> str:
    """An answer's column without its fraction suffix: ``t03_bar_a06_bar_debiased`` ->
    ``t03_bar_a06_bar``."""
    return next((column[: -len(f)] for f in _FRACTION_FLAVOURS if column.endswith(f)), column)


def _default_label(name: str) -> str:
    """Human text for an answer or question name: ``"cant-tell"`` -> ``"Can't tell"``."""
    special = {"cant-tell": "Can't tell", "cant_tell": "Can't tell"}
    if name in special:
        return special[name]
    text = name.replace("_", " ").replace("-", " ").strip()
    return text[:1].upper() + text[1:] if text else name


def _table_of(table_or_catalogue: Any) -> pd.DataFrame:
    """The DataFrame behind a table or a catalogue-like object (anything with ``.table``)."""
    if isinstance(table_or_catalogue, pd.DataFrame):
        return table_or_catalogue
    table = getattr(table_or_catalogue, "table", None)
    if isinstance(table, pd.DataFrame):
        return table
    raise TypeError(
        f"expected a pandas DataFrame or a Catalogue, got {type(table_or_catalogue).__name__}")


def _columns_of(columns: Any) -> list[str]:
    """Column names from a DataFrame, a catalogue or an iterable of names."""
    if isinstance(columns, pd.DataFrame):
        return [str(c) for c in columns.columns]
    table = getattr(columns, "table", None)
    if isinstance(table, pd.DataFrame):
        return [str(c) for c in table.columns]
    return [str(c) for c in columns]


@dataclass(frozen=True)
class Answer:
    """One answer of a question.

    Parameters
    ----------
    name : str
        Answer name, unique within its question (e.g. ``"yes"``, ``"a08_spiral"``).
    column : str
        Catalogue column holding the fraction of volunteers (or the predicted fraction) giving this
        answer, float in [0, 1].
    label : str
        Human text for the UI (e.g. ``"Featured or disk"``); derived from ``name`` when empty.
    """

    name: str
    column: str
    label: str = ""

    def __post_init__(self):
        if not self.label:
            object.__setattr__(self, "label", _default_label(self.name))


@dataclass(frozen=True)
class Question:
    """One question (GZ2: "task") of a decision tree.

    Parameters
    ----------
    name : str
        Question name, unique within the schema (e.g. ``"has-spiral-arms"``).
    answers : tuple of Answer
        The possible answers (their fractions sum to ~1 where the question was asked).
    parent : tuple (question, answer) or None
        The answer that leads volunteers to this question; None for root questions.
    label : str
        Short human text for the UI (e.g. ``"Has spiral arms?"``).

    Examples
    --------
    >>> q = GZ_DECALS.question("bar")
    >>> q.parent, q.answer_names
    (('disk-edge-on', 'no'), ('strong', 'weak', 'no'))
    """

    name: str
    answers: tuple[Answer, ...]
    parent: tuple[str, str] | None = None
    label: str = ""

    def __post_init__(self):
        object.__setattr__(self, "answers", tuple(self.answers))
        if self.parent is not None:
            object.__setattr__(self, "parent", tuple(self.parent))
        if not self.label:
            object.__setattr__(self, "label", _default_label(self.name) + "?")

    @property
    def answer_names(self) -> tuple[str, ...]:
        """Names of the answers, in order."""
        return tuple(a.name for a in self.answers)

    @property
    def columns(self) -> list[str]:
        """Fraction columns of the answers, in order."""
        return [a.column for a in self.answers]

    def answer(self, name: str) -> Answer:
        """The answer called ``name``; SchemaError naming the choices otherwise."""
        for a in self.answers:
            if a.name == name:
                return a
        raise SchemaError(
            f"question '{self.name}' has no answer '{name}' "
            f"(answers: {', '.join(self.answer_names)}).{did_you_mean(str(name), self.answer_names)}")


@dataclass(frozen=True)
class Schema:
    """A decision tree: questions, their answers' columns and which answer leads to which question.

    Validated on construction: duplicate question names, duplicate answers within a question,
    duplicate columns, unknown parent questions or answers and cycles raise :class:`SchemaError`
    naming the offender.

    Parameters
    ----------
    name : str
        Human name of the tree (e.g. ``"GZ DECaLS"``).
    questions : tuple of Question
        Questions in display order (parents before children is recommended but not required).

    Examples
    --------
    >>> GZ_DECALS.n_questions, GZ_DECALS.n_answers
    (10, 34)
    >>> GZ_DECALS.answer_column("has-spiral-arms", "yes")
    'has-spiral-arms_yes_fraction'
    >>> [q for q, a in GZ_DECALS.ancestors("spiral-winding")]
    ['smooth-or-featured', 'disk-edge-on', 'has-spiral-arms']
    """

    name: str
    questions: tuple[Question, ...]
    _by_name: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "questions", tuple(self.questions))
        by_name: dict[str, Question] = {}
        columns: dict[str, str] = {}
        if not self.questions:
            raise SchemaError(f"schema '{self.name}' has no questions")
        for q in self.questions:
            if not isinstance(q, Question):
                raise SchemaError(f"schema '{self.name}': expected Question objects, got {q!r}")
            if q.name in by_name:
                raise SchemaError(f"schema '{self.name}': duplicate question name '{q.name}'")
            by_name[q.name] = q
            if not q.answers:
                raise SchemaError(f"schema '{self.name}': question '{q.name}' has no answers")
            seen: set[str] = set()
            for a in q.answers:
                if a.name in seen:
                    raise SchemaError(
                        f"schema '{self.name}': duplicate answer '{a.name}' in question '{q.name}'")
                seen.add(a.name)
                if a.column in columns:
                    raise SchemaError(
                        f"schema '{self.name}': column '{a.column}' is used by both "
                        f"{columns[a.column]} and {q.name} = {a.name}")
                columns[a.column] = f"{q.name} = {a.name}"
        for q in self.questions:
            if q.parent is None:
                continue
            if len(q.parent) != 2:
                raise SchemaError(
                    f"schema '{self.name}': parent of question '{q.name}' must be a "
                    f"(question, answer) pair, got {q.parent!r}")
            pq, pa = q.parent
            if pq not in by_name:
                raise SchemaError(
                    f"schema '{self.name}': question '{q.name}' has unknown parent question "
                    f"'{pq}'.{did_you_mean(str(pq), by_name)}")
            if pa not in by_name[pq].answer_names:
                raise SchemaError(
                    f"schema '{self.name}': question '{q.name}' has unknown parent answer "
                    f"'{pa}' of question '{pq}' (answers: {', '.join(by_name[pq].answer_names)})."
                    f"{did_you_mean(str(pa), by_name[pq].answer_names)}")
        for q in self.questions:  # cycles: walking up must reach a root within n steps
            node, steps = q, 0
            while node.parent is not None:
                node = by_name[node.parent[0]]
                steps += 1
                if steps > len(self.questions):
                    raise SchemaError(
                        f"schema '{self.name}': question '{q.name}' is part of a cycle of parents")
        object.__setattr__(self, "_by_name", by_name)

    # ----------------------------------------------------------------------------- structure
    @property
    def question_names(self) -> list[str]:
        """Names of the questions, in order."""
        return [q.name for q in self.questions]

    @property
    def n_questions(self) -> int:
        """Number of questions."""
        return len(self.questions)

    @property
    def n_answers(self) -> int:
        """Number of answers over all questions."""
        return sum(len(q.answers) for q in self.questions)

    @property
    def columns(self) -> list[str]:
        """Every answer's fraction column, in question then answer order."""
        return [a.column for q in self.questions for a in q.answers]

    def question(self, name: str) -> Question:
        """The question called ``name``; SchemaError with a suggestion otherwise."""
        try:
            return self._by_name[name]
        except (KeyError, TypeError):
            raise SchemaError(
                f"schema '{self.name}' has no question '{name}'."
                f"{did_you_mean(str(name), self._by_name)}") from None

    def answer_column(self, question: str, answer: str) -> str:
        """Column holding the fraction for ``question = answer``."""
        return self.question(question).answer(answer).column

    def answer_at(self, column: str) -> tuple[Question, Answer] | None:
        """The question and answer whose fraction ``column`` holds (:meth:`answer_column`'s
        inverse), or None.

        >>> q, a = GZ_DECALS.answer_at("bar_strong_fraction")
        >>> q.label, a.label
        ('Bar?', 'Strong')
        """
        return next(((q, a) for q in self.questions for a in q.answers if a.column == column), None)

    def ancestors(self, question: str) -> list[tuple[str, str]]:
        """The ``(question, answer)`` pairs leading to ``question``, root first (empty for roots)."""
        chain: list[tuple[str, str]] = []
        node = self.question(question)
        while node.parent is not None:
            chain.append(node.parent)
            node = self._by_name[node.parent[0]]
        return chain[::-1]

    def restricted_to(self, columns: Any) -> Schema:
        """The tree as far as a catalogue holds it: the questions with at least one answer
        column in ``columns``, each hung under its nearest ancestor answer that is there (a root
        when none is). A partial catalogue (only ``has-spiral-arms_*`` and ``bar_*``) can then
        filter on its questions, which the full tree would hide behind ancestors it cannot check.

        >>> s = GZ_DECALS.restricted_to(["has-spiral-arms_yes_fraction", "spiral-arm-count_2_fraction"])
        >>> [(q.name, q.parent) for q in s.questions]
        [('has-spiral-arms', None), ('spiral-arm-count', ('has-spiral-arms', 'yes'))]
        """
        import dataclasses

        present = set(_columns_of(columns))
        kept = {q.name for q in self.questions if any(a.column in present for a in q.answers)}

        def nearest(q: Question) -> tuple[str, str] | None:
            for pq, pa in reversed(self.ancestors(q.name)):
                if pq in kept and self.answer_column(pq, pa) in present:
                    return (pq, pa)
            return None

        questions = tuple(dataclasses.replace(q, parent=nearest(q)) for q in self.questions if q.name in kept)
        if questions == self.questions:
            return self
        return Schema(f"{self.name} (partial)", questions)

    def children(self, question: str, answer: str | None = None) -> list[str]:
        """Names of the questions asked after ``question`` (after that ``answer`` if given)."""
        self.question(question)
        return [q.name for q in self.questions if q.parent is not None and q.parent[0] == question
                and (answer is None or q.parent[1] == answer)]

    def descendants(self, question: str) -> list[str]:
        """Names of every question below ``question`` in the tree."""
        out: list[str] = []
        todo = self.children(question)
        while todo:
            name = todo.pop(0)
            out.append(name)
            todo.extend(self.children(name))
        return out

    # ----------------------------------------------------------------------------- data
    def missing_columns(self, table: Any) -> list[str]:
        """Answer columns of this schema absent from ``table`` (DataFrame, catalogue or names)."""
        present = set(_columns_of(table))
        return [c for c in self.columns if c not in present]

    def present_in(self, table: Any) -> bool:
        """True when every answer column of this schema is in ``table``."""
        return not self.missing_columns(table)

    def available(self, table: Any) -> list[str]:
        """Names of the questions whose answer columns are all present in ``table``."""
        present = set(_columns_of(table))
        return [q.name for q in self.questions if all(c in present for c in q.columns)]

    def available_answers(self, table: Any) -> list[tuple[str, str]]:
        """``(question, answer)`` pairs whose fraction column is present in ``table``.

        Partial catalogues (e.g. only ``has-spiral-arms_no_fraction``) can still be filtered on
        the answers they hold.
        """
        present = set(_columns_of(table))
        return [(q.name, a.name) for q in self.questions for a in q.answers if a.column in present]

    def fraction(self, table: Any, question: str, answer: str) -> np.ndarray:
        """Fraction of votes for ``question = answer`` for every galaxy.

        Parameters
        ----------
        table : DataFrame or Catalogue
            One row per galaxy.
        question, answer : str
            Names in this schema.

        Returns
        -------
        ndarray of shape (n_galaxies,), float64
            Vote fractions in [0, 1]; NaN kept where the catalogue has NaN.

        Examples
        --------
        >>> t = pd.DataFrame({"has-spiral-arms_yes_fraction": [0.9, float("nan")]})
        >>> GZ_DECALS.fraction(t, "has-spiral-arms", "yes")
        array([0.9, nan])
        """
        column = self.answer_column(question, answer)
        df = _table_of(table)
        if column not in df.columns:
            raise SchemaError(
                f"column '{column}' ({question} = {answer} of schema '{self.name}') is not in the "
                f"catalogue.{did_you_mean(column, [str(c) for c in df.columns])}")
        return pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=np.float64, copy=True)

    def add_vote_totals(self, table: pd.DataFrame) -> list[str]:
        """Add each question's ``{question}_total-votes`` (GZ DECaLS' name) where the table has
        its answers' ``*_count`` columns (GZ2) but no total, in place: a column range on it keeps
        the galaxies with enough votes on that question (Galaxy Zoo practice: a bar or arm-count
        fraction from 4 volunteers is not one from 40). Returns the columns added.

        >>> t = pd.DataFrame({"t03_bar_a06_bar_count": [3, 0], "t03_bar_a07_no_bar_count": [17, 0]})
        >>> GZ2.add_vote_totals(t), t["t03_bar_total-votes"].tolist()
        (['t03_bar_total-votes'], [20, 0])
        """
        added = []
        for q in self.questions:
            counts = [f"{_answer_base(a.column)}_count" for a in q.answers]
            total = f"{q.name}_total-votes"
            if total not in table.columns and counts and all(c in table.columns for c in counts):
                table[total] = sum(pd.to_numeric(table[c], errors="coerce") for c in counts)
                added.append(total)
        return added

    def blank_not_asked(self, table: pd.DataFrame) -> dict[str, int]:
        """Set the fractions of a question nobody answered for a galaxy to NaN, in place.

        GZ2's tables write 0.0 for every answer of a question no volunteer reached (and 0 in its
        ``*_count`` columns): read as a fraction, "no bar 0.0" passed a filter on few no-bar votes
        and the card showed two empty bars. A question's votes are its ``{question}_total-votes``
        column (GZ DECaLS; for GZ2 added from its ``*_count`` columns by :meth:`add_vote_totals`);
        every flavour of an answer's fraction (``_fraction``, ``_weighted_fraction``,
        ``_debiased``) is blanked.

        Returns
        -------
        dict
            ``{question: galaxies blanked}`` for the questions with any.

        Examples
        --------
        >>> t = pd.DataFrame({"bar_strong_fraction": [0.2, 0.0], "bar_weak_fraction": [0.3, 0.0],
        ...                   "bar_no_fraction": [0.5, 0.0], "bar_total-votes": [10, 0]})
        >>> GZ_DECALS.blank_not_asked(t), t["bar_no_fraction"].tolist()
        ({'bar': 1}, [0.5, nan])
        """
        blanked = {}
        for q in self.questions:
            bases = [_answer_base(a.column) for a in q.answers]
            if f"{q.name}_total-votes" not in table.columns:
                continue  # no votes to tell (GZ2's counts become one: add_vote_totals)
            total = pd.to_numeric(table[f"{q.name}_total-votes"], errors="coerce")
            unasked = (total.fillna(0) == 0).to_numpy()
            columns = [f"{b}{f}" for b in bases for f in _FRACTION_FLAVOURS if f"{b}{f}" in table.columns]
            if not unasked.any() or not columns:
                continue
            newly = unasked & table[columns].notna().any(axis=1).to_numpy()
            if newly.any():
                table.loc[unasked, columns] = np.nan
                blanked[q.name] = int(newly.sum())
        return blanked

    def p_asked(self, table: Any, question: str) -> np.ndarray:
        """Probability that ``question`` was asked: product of the parent answers' fractions.

        Parameters
        ----------
        table : DataFrame or Catalogue
            One row per galaxy; must hold the columns of the ancestor answers.
        question : str
            Question name.

        Returns
        -------
        ndarray of shape (n_galaxies,), float64
            1 for root questions; NaN where any ancestor fraction is NaN.

        Examples
        --------
        >>> t = pd.DataFrame({"smooth-or-featured_featured-or-disk_fraction": [0.8],
        ...                   "disk-edge-on_no_fraction": [0.5]})
        >>> GZ_DECALS.p_asked(t, "has-spiral-arms")
        array([0.4])
        """
        n = len(_table_of(table))
        p = np.ones(n, dtype=np.float64)
        for pq, pa in self.ancestors(question):
            p *= self.fraction(table, pq, pa)
        return p

    # ----------------------------------------------------------------------------- JSON
    def to_dict(self) -> dict:
        """JSON-able description (the inverse of :meth:`from_dict`).

        Examples
        --------
        >>> Schema.from_dict(GZ_DECALS.to_dict()) == GZ_DECALS
        True
        """
        return {
            "name": self.name,
            "questions": [
                {
                    "name": q.name,
                    "label": q.label,
                    "parent": None if q.parent is None else list(q.parent),
                    "answers": [{"name": a.name, "column": a.column, "label": a.label}
                                for a in q.answers],
                }
                for q in self.questions
            ],
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> Schema:
        """Build a schema from a dict (as written by :meth:`to_dict`).

        Answers may be given as plain names, in which case their column is
        ``"{question}_{answer}_fraction"``; a parent may be ``[question, answer]``,
        ``{"question": ..., "answer": ...}`` or ``"question=answer"``.

        Examples
        --------
        >>> s = Schema.from_dict({"name": "mine", "questions": [
        ...     {"name": "lens", "answers": ["yes", "no"]},
        ...     {"name": "arcs", "answers": ["one", "many"], "parent": "lens=yes"}]})
        >>> s.answer_column("arcs", "many"), s.question("arcs").parent
        ('arcs_many_fraction', ('lens', 'yes'))
        """
        if not isinstance(d, Mapping):
            raise SchemaError(f"a schema must be a JSON object, got {type(d).__name__}")
        unknown = set(d) - {"name", "questions"}
        if unknown:
            raise SchemaError(f"unknown schema key(s): {', '.join(sorted(map(str, unknown)))}"
                              f" (expected 'name' and 'questions')")
        if "questions" not in d or not isinstance(d["questions"], Sequence) \
                or isinstance(d["questions"], str):
            raise SchemaError("a schema needs a 'questions' list")
        name = str(d.get("name", "custom"))
        questions = []
        for i, qd in enumerate(d["questions"]):
            if not isinstance(qd, Mapping) or "name" not in qd:
                raise SchemaError(f"schema '{name}': question #{i} needs a 'name'")
            qname = str(qd["name"])
            bad = set(qd) - {"name", "label", "parent", "answers"}
            if bad:
                raise SchemaError(f"schema '{name}': question '{qname}' has unknown key(s) "
                                  f"{', '.join(sorted(map(str, bad)))}")
            answers = []
            for ad in qd.get("answers") or ():
                if isinstance(ad, str):
                    answers.append(Answer(ad, f"{qname}_{ad}_fraction"))
                elif isinstance(ad, Mapping) and "name" in ad:
                    aname = str(ad["name"])
                    answers.append(Answer(aname, str(ad.get("column") or f"{qname}_{aname}_fraction"),
                                          str(ad.get("label") or "")))
                else:
                    raise SchemaError(
                        f"schema '{name}': question '{qname}' has a malformed answer {ad!r}")
            parent = qd.get("parent")
            if isinstance(parent, str):
                if "=" not in parent:
                    raise SchemaError(f"schema '{name}': parent of '{qname}' must look like "
                                      f"'question=answer', got {parent!r}")
                parent = tuple(s.strip() for s in parent.split("=", 1))
            elif isinstance(parent, Mapping):
                parent = (str(parent.get("question")), str(parent.get("answer")))
            elif parent is not None:
                parent = tuple(str(p) for p in parent)
            questions.append(Question(qname, tuple(answers), parent, str(qd.get("label") or "")))
        return cls(name, tuple(questions))


def load_schema(path: str | Path) -> Schema:
    """Read a user schema from a JSON file (see :meth:`Schema.from_dict`).

    Raises
    ------
    SchemaError
        Naming the file when it is not valid JSON or not a valid schema.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise SchemaError(f"{path}: not valid JSON ({err})") from err
    try:
        return Schema.from_dict(data)
    except SchemaError as err:
        raise SchemaError(f"{path}: {err}") from err


# --------------------------------------------------------------------------------- GZ DECaLS
_DECALS_TREE: tuple[tuple[str, str, tuple[str, ...], tuple[str, str] | None], ...] = (
    ("smooth-or-featured", "Smooth or featured?", ("smooth", "featured-or-disk", "artifact"), None),
    ("disk-edge-on", "Edge-on disk?", ("yes", "no"), ("smooth-or-featured", "featured-or-disk")),
    ("has-spiral-arms", "Has spiral arms?", ("yes", "no"), ("disk-edge-on", "no")),
    ("bar", "Bar?", ("strong", "weak", "no"), ("disk-edge-on", "no")),
    ("bulge-size", "Bulge size?", ("dominant", "large", "moderate", "small", "none"),
     ("disk-edge-on", "no")),
    ("how-rounded", "How rounded?", ("round", "in-between", "cigar-shaped"),
     ("smooth-or-featured", "smooth")),
    ("edge-on-bulge", "Edge-on bulge shape?", ("boxy", "none", "rounded"), ("disk-edge-on", "yes")),
    ("spiral-winding", "Spiral arm winding?", ("tight", "medium", "loose"),
     ("has-spiral-arms", "yes")),
    ("spiral-arm-count", "Number of spiral arms?", ("1", "2", "3", "4", "more-than-4", "cant-tell"),
     ("has-spiral-arms", "yes")),
    ("merging", "Merging or disturbed?", ("none", "minor-disturbance", "major-disturbance", "merger"),
     None),
)
_DECALS_ANSWER_LABELS = {"artifact": "Star or artifact", "none": "None"}


def gz_decals_schema(suffix: str = "") -> Schema:
    """The GZ DECaLS / DESI tree (Walmsley et al. 2022) with optional column suffix.

    Parameters
    ----------
    suffix : str
        Appended to each question name in the columns, as in Zoobot's label columns for some
        campaigns (``"-dr5"``, ``"-dr8"``: ``smooth-or-featured-dr5_smooth_fraction``). Question
        and answer names do not change.

    Examples
    --------
    >>> gz_decals_schema("-dr8").answer_column("bar", "weak")
    'bar-dr8_weak_fraction'
    """
    questions = []
    for qname, label, answers, parent in _DECALS_TREE:
        questions.append(Question(
            qname,
            tuple(Answer(a, f"{qname}{suffix}_{a}_fraction", _DECALS_ANSWER_LABELS.get(a, ""))
                  for a in answers),
            parent, label))
    return Schema("GZ DECaLS" + (f" ({suffix.lstrip('-')})" if suffix else ""), tuple(questions))


# --------------------------------------------------------------------------------------- GZ2
# (task, label, answers, parent), names exactly as in the GZ2 tables (Willett et al. 2013).
_GZ2_TREE: tuple[tuple[str, str, tuple[str, ...], tuple[str, str] | None], ...] = (
    ("t01_smooth_or_features", "Smooth or features?",
     ("a01_smooth", "a02_features_or_disk", "a03_star_or_artifact"), None),
    ("t02_edgeon", "Edge-on disk?", ("a04_yes", "a05_no"),
     ("t01_smooth_or_features", "a02_features_or_disk")),
    ("t03_bar", "Bar?", ("a06_bar", "a07_no_bar"), ("t02_edgeon", "a05_no")),
    ("t04_spiral", "Spiral arms?", ("a08_spiral", "a09_no_spiral"), ("t02_edgeon", "a05_no")),
    ("t05_bulge_prominence", "Bulge prominence?",
     ("a10_no_bulge", "a11_just_noticeable", "a12_obvious", "a13_dominant"),
     ("t02_edgeon", "a05_no")),
    ("t06_odd", "Anything odd?", ("a14_yes", "a15_no"), None),
    ("t07_rounded", "How rounded?", ("a16_completely_round", "a17_in_between", "a18_cigar_shaped"),
     ("t01_smooth_or_features", "a01_smooth")),
    ("t08_odd_feature", "Odd feature?",
     ("a19_ring", "a20_lens_or_arc", "a21_disturbed", "a22_irregular", "a23_other", "a24_merger",
      "a38_dust_lane"), ("t06_odd", "a14_yes")),
    ("t09_bulge_shape", "Edge-on bulge shape?", ("a25_rounded", "a26_boxy", "a27_no_bulge"),
     ("t02_edgeon", "a04_yes")),
    ("t10_arms_winding", "Spiral arm winding?", ("a28_tight", "a29_medium", "a30_loose"),
     ("t04_spiral", "a08_spiral")),
    ("t11_arms_number", "Number of spiral arms?",
     ("a31_1", "a32_2", "a33_3", "a34_4", "a36_more_than_4", "a37_cant_tell"),
     ("t04_spiral", "a08_spiral")),
)


def _gz2_answer_label(name: str) -> str:
    text = name.split("_", 1)[1] if "_" in name else name
    return _default_label(text)


def gz2_schema(flavour: str = "fraction") -> Schema:
    """The Galaxy Zoo 2 tree (Willett et al. 2013) reading one fraction flavour.

    Parameters
    ----------
    flavour : {"fraction", "weighted_fraction", "debiased"}
        Which column of each answer to read: raw vote fraction, user-weighted fraction, or the
        redshift-debiased fraction.

    Examples
    --------
    >>> gz2_schema("debiased").answer_column("t04_spiral", "a08_spiral")
    't04_spiral_a08_spiral_debiased'
    """
    if flavour not in GZ2_FLAVOURS:
        raise SchemaError(f"unknown GZ2 fraction flavour '{flavour}' (choose from "
                          f"{', '.join(GZ2_FLAVOURS)}).{did_you_mean(str(flavour), GZ2_FLAVOURS)}")
    questions = tuple(
        Question(task, tuple(Answer(a, f"{task}_{a}_{flavour}", _gz2_answer_label(a))
                             for a in answers), parent, label)
        for task, label, answers, parent in _GZ2_TREE)
    return Schema("GZ2" if flavour == "fraction" else f"GZ2 ({flavour})", questions)


#: Galaxy Zoo DECaLS / DESI decision tree: 10 questions, 34 answers.
GZ_DECALS: Schema = gz_decals_schema()
#: Galaxy Zoo 2 decision tree (raw vote fractions): 11 tasks, 37 answers.
GZ2: Schema = gz2_schema()


def builtin_schemas() -> list[Schema]:
    """Every schema :func:`detect_schema` tries, in order of preference."""
    return [GZ_DECALS, gz_decals_schema("-dr5"), gz_decals_schema("-dr8"), GZ2,
            gz2_schema("weighted_fraction"), gz2_schema("debiased")]


def detect_schema(columns: Any, candidates: Iterable[Schema] | None = None) -> Schema | None:
    """The schema whose answer columns are most present among ``columns``, or None.

    A schema qualifies when all its root question's columns are present, or at least three of its
    answer columns are (partial catalogues such as one holding only
    ``smooth-or-featured_featured-or-disk_fraction``, ``disk-edge-on_no_fraction`` and
    ``has-spiral-arms_no_fraction`` are detected; use :meth:`Schema.available` /
    :meth:`Schema.available_answers` to see what can be used). Ties go to the earlier candidate
    (GZ DECaLS before GZ2, raw fractions before weighted and debiased).

    Parameters
    ----------
    columns : iterable of str, DataFrame or Catalogue
        Column names to look at.
    candidates : iterable of Schema, optional
        Schemas to try (default :func:`builtin_schemas`).

    Examples
    --------
    >>> detect_schema(["id", "has-spiral-arms_yes_fraction", "has-spiral-arms_no_fraction",
    ...                "bar_no_fraction"]).name
    'GZ DECaLS'
    >>> detect_schema(["id", "ra", "dec"]) is None
    True
    """
    present = set(_columns_of(columns))
    best: Schema | None = None
    best_count = 0
    for schema in builtin_schemas() if candidates is None else candidates:
        count = sum(c in present for c in schema.columns)
        roots_complete = any(q.parent is None and all(c in present for c in q.columns)
                             for q in schema.questions)
        if (count >= min(3, len(schema.columns)) or roots_complete) and count > best_count:
            best, best_count = schema, count
    return best
