"""Morphology filter view: one answer + posterior range per question of the catalogue's schema.

Questions whose parent answer is not yet required are disabled, with
:meth:`MorphologyFilter.enabled`'s explanation beside them. The resulting filter goes to
``state.filter``; the state turns it into a mask that the ranking, the map and the search use.
"""
from __future__ import annotations

import html

import panel as pn
import param

from astroexplore.ui.state import AppState
from astroexplore.ui.notebook import ShownAsIpywidget

ANY = "(any)"


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


class MorphologyView(ShownAsIpywidget, pn.viewable.Viewer):
    """Filter the catalogue by Galaxy Zoo answers; shows "X of Y galaxies match"."""

    state = param.ClassSelector(class_=AppState)

    def __init__(self, **params):
        super().__init__(**params)
        self._schema = getattr(self.state.catalogue, "schema", None)
        self._controls: dict[str, QuestionControl] = {}
        self._updating = False
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

    def _rebuild(self, *events):
        """Turn the controls into a MorphologyFilter (side effect: sets ``state.filter``)."""
        if self._updating:
            return
        from astroexplore.filters import Condition, MorphologyFilter
        flt = MorphologyFilter(self._schema)
        self._updating = True
        try:
            for name, c in self._controls.items():  # parents before children (see __init__)
                if c.answer == ANY:
                    continue
                if not flt.enabled(name)[0]:
                    c.answer = ANY  # its parent condition was removed
                    continue
                lo, hi = c.fraction
                flt = flt.with_condition(Condition(name, c.answer, float(lo), float(hi)))
        finally:
            self._updating = False
        self.state.filter = flt if len(flt.conditions) else None

    def clear(self, event=None):
        self._updating = True
        try:
            for c in self._controls.values():
                c.answer = ANY
                c.fraction = (0.5, 1.0)
        finally:
            self._updating = False
        self.state.filter = None

    def _enabled(self, flt, name):
        if flt is None:
            from astroexplore.filters import MorphologyFilter
            flt = MorphologyFilter(self._schema)
        return flt.enabled(name)

    @param.depends("state.n_match")
    def _count(self):
        n, total = self.state.n_match, self.state.catalogue.n_galaxies
        return pn.pane.Markdown(f"### {n:,} of {total:,} galaxies match", margin=(0, 5))

    def conditions_text(self, flt) -> str:
        """The filter's conditions in one line ("Merging or disturbed? merger ≥ 0.50; ..."), or ""."""
        if flt is None:
            return ""
        labels = {q.name: getattr(q, "label", None) or q.name for q in self._schema.questions}
        parts = []
        for c in flt.conditions:
            span = f"≥ {c.low:.2f}" if c.high >= 1.0 else f"{c.low:.2f} – {c.high:.2f}"
            parts.append(f"{labels.get(c.question, c.question)} {c.answer} {span}")
        return "; ".join(parts)

    def _conditions(self) -> pn.pane.HTML:
        """Every condition in force, at the top: one set far down the list (below a laptop's
        fold) could explain "0 of 20,000 galaxies match" out of sight."""
        return pn.pane.HTML(
            pn.bind(lambda f: (f"Conditions: {html.escape(self.conditions_text(f))}"
                               if f is not None and f.conditions else "No condition: every galaxy."),
                    self.state.param.filter),
            styles={"font-size": "13px", "color": "#0b3d62"}, sizing_mode="stretch_width", margin=(0, 10))

    def __panel__(self):
        if self._schema is None or not self._controls:
            return pn.pane.Markdown("This catalogue has no Galaxy Zoo posterior columns, so there "
                                    "is nothing to filter on.")
        s = self.state
        rows = []
        for name, c in self._controls.items():
            off = pn.bind(lambda f, name=name: not self._enabled(f, name)[0], s.param.filter)
            why = pn.bind(lambda f, name=name: "<span style='color:#8a6d3b;font-size:12px'>"
                          + html.escape(self._enabled(f, name)[1]) + "</span>", s.param.filter)
            rows.append(pn.Row(
                pn.widgets.Select.from_param(c.param.answer, width=260, disabled=off),
                pn.widgets.RangeSlider.from_param(c.param.fraction, step=0.05, width=220, disabled=off),
                pn.pane.HTML(why, align="center", sizing_mode="stretch_width", min_width=150),
                sizing_mode="stretch_width",
            ))
        clear = pn.widgets.Button(label="Clear filter", width=120, on_click=self.clear)
        return pn.Column(pn.Row(self._count, clear), self._conditions(), *rows, sizing_mode="stretch_width")
