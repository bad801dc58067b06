"""Filter view: ranges on the catalogue's own columns, and one answer + posterior range per
question of the catalogue's Galaxy Zoo schema.

Questions whose parent answer is not yet required are disabled, with
:meth:`MorphologyFilter.enabled`'s explanation beside them. The morphology filter goes to
``state.filter`` and the column ranges to ``state.column_ranges``; the state ANDs them into a mask
that the ranking, the map and the search use.
"""
from __future__ import annotations

import html

import panel as pn
import param

from astroexplore.ui.state import AppState
from astroexplore.ui.notebook import ShownAsIpywidget

ANY = "(any)"
NO_COLUMN = "(none)"
#: column-range rows the view starts with ("+ Another column" adds more)
N_COLUMN_RANGES = 3


class ColumnControl(param.Parameterized):
    """A range on one numeric column of the catalogue: from ``low`` to ``high`` (empty: open)."""

    column = param.Selector(default=NO_COLUMN, objects=[NO_COLUMN], label="Column")
    low = param.Number(default=None, allow_None=True, label="from")
    high = param.Number(default=None, allow_None=True, label="to")
    problem = param.String(default="", doc="Why this row's range is not applied (e.g. from > to).")

    def __init__(self, columns, **params):
        super().__init__(**params)
        self.param.column.objects = [NO_COLUMN, *columns]

    @param.depends("column", watch=True)
    def _new_column(self):
        self.param.update(low=None, high=None)  # bounds in another column's units mean nothing

    def column_range(self):
        """The :class:`~astroexplore.column_filter.ColumnRange` of this row, or None (no column
        chosen, or bounds that make no range: then :attr:`problem` says why)."""
        from astroexplore.column_filter import ColumnRange
        from astroexplore.errors import SchemaError

        self.problem = ""
        if self.column == NO_COLUMN:
            return None
        try:
            return ColumnRange(self.column, self.low, self.high)
        except SchemaError as err:
            self.problem = f"not applied: {err}"
            return None


def column_summary(table, column: str) -> str:
    """The values a column holds, to choose bounds from (:func:`~astroexplore.column_filter.value_summary`)."""
    from astroexplore.column_filter import value_summary

    return "" if column == NO_COLUMN else value_summary(table[column])


class QuestionControl(param.Parameterized):
    """The condition on one question: which answer, and its vote-fraction range."""

    answer = param.Selector(default=ANY, objects=[ANY])
    fraction = param.Range(default=(0.5, 1.0), bounds=(0.0, 1.0), label="Vote fraction")

    def __init__(self, question, answers=None, **params):
        super().__init__(**params)
        self.question = question
        answers = question.answers if answers is None else answers  # those the catalogue has
        names = {getattr(a, "label", None) or a.name: a.name for a in answers}
        self.param.answer.objects = {ANY: ANY, **names}
        self.param.answer.label = getattr(question, "label", None) or question.name


def _parents_first(questions) -> list:
    """The schema's questions in its own order, except that a question comes after its parent."""
    todo, done, out = list(questions), set(), []
    while todo:
        q = next((q for q in todo if q.parent is None or q.parent[0] in done), todo[0])
        todo.remove(q)
        done.add(q.name)
        out.append(q)
    return out


def _by_question(flt) -> tuple[dict, dict]:
    """The conditions of ``flt`` (a MorphologyFilter or None) by question: the first of each
    (``{question: Condition}``, what its row shows) and the others (``{question: [Condition, ...]}``)."""
    first, others = {}, {}
    for cond in () if flt is None else flt.conditions:
        if cond.question in first:
            others.setdefault(cond.question, []).append(cond)
        else:
            first[cond.question] = cond
    return first, others


class MorphologyView(ShownAsIpywidget, pn.viewable.Viewer):
    """Filter the catalogue by its own numeric columns and by Galaxy Zoo answers; shows "X of Y
    galaxies match"."""

    state = param.ClassSelector(class_=AppState)

    def __init__(self, **params):
        from astroexplore.column_filter import filterable_columns

        super().__init__(**params)
        self._schema = getattr(self.state.catalogue, "schema", None)
        self._controls: dict[str, QuestionControl] = {}
        self._updating = False
        self._columns = filterable_columns(self.state.catalogue)
        self._column_controls: list[ColumnControl] = []
        self._column_box: pn.Column | None = None  # the rows on the page, once drawn
        for _ in range(N_COLUMN_RANGES if self._columns else 0):
            self._add_column_control()
        if self._schema is not None:
            columns = set(self.state.catalogue.table.columns)
            # the tree as far as the catalogue holds it: a question whose parent answer is not
            # in the catalogue is filtered on directly (it could never be enabled otherwise)
            self._schema = self._schema.restricted_to(columns)
            # parents before children whatever order the schema lists them in; a question with
            # only some of its answer columns (a partial catalogue) offers those answers
            for q in _parents_first(self._schema.questions):
                present = [a for a in q.answers if a.column in columns]
                if not present:
                    continue
                c = QuestionControl(q, present)
                c.param.watch(self._rebuild, ["answer", "fraction"])
                self._controls[q.name] = c
        self._show_state()

    def _new_column_control(self) -> ColumnControl:
        c = ColumnControl(self._columns)
        c.param.watch(self._apply_ranges, ["column", "low", "high"])
        return c

    def _add_column_control(self) -> ColumnControl:
        """One more column row (on the page too, once it is drawn)."""
        c = self._new_column_control()
        self._column_controls.append(c)
        if self._column_box is not None:
            self._column_box.append(self._column_row(c))
        return c

    @param.depends("state.filter", "state.column_ranges", watch=True)
    def _show_state(self):
        """Set the controls to a filter given elsewhere (a link, a script on ``state``), not
        through them: each condition on its question's row, each range on a column row (rows
        added as needed), the other rows cleared."""
        if self._updating:
            return
        self._updating = True
        try:
            ranges = list(self.state.column_ranges)
            while len(self._column_controls) < len(ranges):
                self._add_column_control()
            for c, r in zip(self._column_controls, [*ranges, *[None] * len(self._column_controls)]):
                c.problem = ""
                c.column = NO_COLUMN if r is None or r.column not in self._columns else r.column
                c.param.update(low=getattr(r, "low", None), high=getattr(r, "high", None))
            # a row per question shows the first answer given (the others are kept: _rebuild)
            conditions = _by_question(self.state.filter)[0]
            for name, control in self._controls.items():
                cond = conditions.get(name)
                control.param.update(answer=ANY if cond is None else cond.answer,
                                     fraction=(0.5, 1.0) if cond is None else (cond.low, cond.high))
        finally:
            self._updating = False

    def _rebuild(self, *events):
        """Turn the controls into a MorphologyFilter (side effect: sets ``state.filter``)."""
        if self._updating:
            return
        from astroexplore.filters import Condition, MorphologyFilter
        flt = MorphologyFilter(self._schema)
        # a second answer of a question (a link or a script may ask for two; its row shows the
        # first): kept while its question's row asks for an answer; set to any, or Clear filter, drops it
        unshown = _by_question(self.state.filter)[1]
        self._updating = True
        try:
            for name, c in self._controls.items():  # parents before children (see __init__)
                if c.answer == ANY:
                    continue  # (with any other answer of it a link or a script asked for)
                if not flt.enabled(name)[0]:
                    # its parent's condition is gone or below 0.5: out of force, but kept on its row
                    # (and back in force with the parent); a slider nudged to 0.45 and back lost
                    # every condition below it
                    continue
                lo, hi = c.fraction
                flt = flt.with_condition(Condition(name, c.answer, float(lo), float(hi)))
                for other in unshown.get(name, ()):  # kept while its question's row asks for an answer
                    if other.answer != c.answer:
                        flt = flt.with_condition(other)
            self.state.filter = flt if len(flt.conditions) else None
        finally:
            self._updating = False

    def _apply_ranges(self, *events):
        """The column rows' ranges to ``state.column_ranges`` (rows without a column, or with an
        empty range, left out)."""
        if self._updating:
            return
        ranges = tuple(r for r in (c.column_range() for c in self._column_controls) if r is not None)
        if ranges != self.state.column_ranges:
            self._updating = True  # the rows already show it (a refused row stays as typed)
            try:
                self.state.column_ranges = ranges
            finally:
                self._updating = False

    def clear(self, event=None):
        self._updating = True
        try:
            for c in self._controls.values():
                c.answer = ANY
                c.fraction = (0.5, 1.0)
        finally:
            self._updating = False
        # as many new, empty column rows: a number box set back to None shows "NaN" in the browser
        # (Bokeh's NumericInput), a new one its "no bound" placeholder; the old rows' controls go
        # with their boxes (setting the old ones back and drawing new boxes kept both linked)
        self._column_controls = [self._new_column_control() for _ in self._column_controls]
        if self._column_box is not None:
            self._column_box.objects = [self._column_row(c) for c in self._column_controls]
        self.state.param.update(filter=None, column_ranges=())

    def _enabled(self, flt, name):
        if flt is None:
            from astroexplore.filters import MorphologyFilter
            flt = MorphologyFilter(self._schema)
        return flt.enabled(name)

    @param.depends("state.n_match")
    def _count(self):
        n, total = self.state.n_match, self.state.catalogue.n_galaxies
        return pn.pane.Markdown(f"### {n:,} of {total:,} galaxies match", margin=(0, 5))

    def conditions_text(self, flt, ranges=()) -> str:
        """The conditions in one line ("redshift ≤ 0.05; Merging or disturbed? Merger ≥ 0.50; ..."), or ""."""
        parts = [r.text() for r in ranges]
        if flt is None:
            return "; ".join(parts)
        for c in flt.conditions:
            span = f"≥ {c.low:.2f}" if c.high >= 1.0 else f"{c.low:.2f} – {c.high:.2f}"
            parts.append(f"{self._answer_words(c.question, c.answer)} {span}")
        return "; ".join(parts)

    def _answer_words(self, question: str, answer: str) -> str:
        """'Has spiral arms? Yes': a question and its answer as the rows name them."""
        q = self._schema.question(question)
        label = next((a.label or a.name for a in q.answers if a.name == answer), answer)
        return f"{getattr(q, 'label', None) or q.name} {label}"

    def suspended(self, flt) -> list[str]:
        """The answers chosen on rows whose parent answer ``flt`` no longer requires at 0.5 or
        more ("Has spiral arms? Yes"): kept on their rows, not in force until it does again."""
        return [self._answer_words(name, c.answer) for name, c in self._controls.items()
                if c.answer != ANY and not self._enabled(flt, name)[0]]

    def _conditions_html(self, flt, ranges) -> str:
        text = self.conditions_text(flt, ranges)
        out = f"Conditions: {html.escape(text)}" if text else "No condition: every galaxy."
        if waiting := self.suspended(flt):
            out += ("<br><span style='color:#8a6d3b'>Not in force until their parent answer is back at "
                    f"0.5 or more: {html.escape('; '.join(waiting))}</span>")
        return out

    def _conditions(self) -> pn.pane.HTML:
        """Every condition in force, at the top: one set far down the list (below a laptop's
        fold) could explain "0 of 20,000 galaxies match" out of sight; and those out of force."""
        return pn.pane.HTML(
            pn.bind(self._conditions_html, self.state.param.filter, self.state.param.column_ranges),
            styles={"font-size": "13px", "color": "#0b3d62"}, sizing_mode="stretch_width", margin=(0, 10))

    def _column_row(self, c: ColumnControl) -> pn.Row:
        """A column range's row: the column, from, to, and the values it holds (or why the range
        is not applied)."""
        table = self.state.catalogue.table
        info = pn.bind(lambda col, problem: (
            f"<span style='color:#b42318;font-size:12px'>{html.escape(problem)}</span>" if problem else
            f"<span style='color:#555;font-size:12px'>{html.escape(column_summary(table, col))}</span>"),
            c.param.column, c.param.problem)
        return pn.Row(
            pn.widgets.Select.from_param(c.param.column, width=260),
            pn.widgets.FloatInput.from_param(c.param.low, placeholder="no bound", width=105),
            pn.widgets.FloatInput.from_param(c.param.high, placeholder="no bound", width=105),
            pn.pane.HTML(info, align="center", sizing_mode="stretch_width", min_width=150),
            sizing_mode="stretch_width")

    def _column_section(self) -> list:
        """The column rows, and a button for one more row (as many as the catalogue has columns)."""
        self._column_box = pn.Column(*(self._column_row(c) for c in self._column_controls),
                                     sizing_mode="stretch_width", margin=0)
        def every_column_has_a_row() -> bool:
            return len(self._column_controls) >= len(self._columns)

        more = pn.widgets.Button(label="+ Another column", width=140, margin=(0, 10, 5, 10),
                                 disabled=every_column_has_a_row())

        def add(event=None):
            if not every_column_has_a_row():
                self._add_column_control()
            more.disabled = every_column_has_a_row()

        more.on_click(add)
        return [self._column_box, more]

    def __panel__(self):
        head = pn.Row(self._count, pn.widgets.Button(label="Clear filter", width=120, on_click=self.clear))
        sections = []
        if self._column_controls:
            sections += [pn.pane.HTML("<b>Catalogue columns</b> (a galaxy without a value never matches)",
                                      margin=(10, 10, 0, 10)), *self._column_section()]
        if self._schema is not None and self._controls:
            sections += [pn.pane.HTML("<b>Galaxy Zoo answers</b>", margin=(10, 10, 0, 10)), *self._question_rows()]
        elif sections:
            sections.append(pn.pane.HTML("No Galaxy Zoo vote fractions in this catalogue.",
                                         styles={"color": "#555"}, margin=(10, 10)))
        else:
            return pn.pane.Markdown("This catalogue has no numeric columns and no Galaxy Zoo "
                                    "posterior columns, so there is nothing to filter on.")
        return pn.Column(head, self._conditions(), *sections, sizing_mode="stretch_width")

    def _question_rows(self) -> list:
        """A row per question: its answer, the vote-fraction range, and why it is disabled."""
        s = self.state
        rows = []
        for name, c in self._controls.items():
            off = pn.bind(lambda f, name=name: not self._enabled(f, name)[0], s.param.filter)
            why = pn.bind(lambda f, answer, name=name: "<span style='color:#8a6d3b;font-size:12px'>"
                          + ("not in force: " if answer != ANY and self._enabled(f, name)[1] else "")
                          + html.escape(self._enabled(f, name)[1]) + "</span>", s.param.filter, c.param.answer)
            rows.append(pn.Row(
                pn.widgets.Select.from_param(c.param.answer, width=260, disabled=off),
                # greyed where the row asks nothing: a row at "(any)" showed the same live slider
                # as one in force
                pn.widgets.RangeSlider.from_param(c.param.fraction, step=0.05, width=220, disabled=pn.bind(
                    lambda f, answer, name=name: answer == ANY or not self._enabled(f, name)[0],
                    s.param.filter, c.param.answer)),
                pn.pane.HTML(why, align="center", sizing_mode="stretch_width", min_width=150),
                sizing_mode="stretch_width",
            ))
        return rows
