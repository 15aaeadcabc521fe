"""The runs of this browser session's workspace as Compare lists them: stored runs, with this session's live
ones (Playground or grid) read from memory while they train. Only this session's workspace is ever read (the
store is always queried with it)."""

from __future__ import annotations

import dataclasses

import streamlit as st

from clcore import RunState
from pages.shared import session
from pages.shared.i18n import t


def state_text(state: RunState) -> str:
    """A run's state as shown (catalog state.<state>)."""
    return t(f"state.{state}")


@dataclasses.dataclass
class Entry:
    id: int
    label: str
    state: RunState
    created: float
    config: dict  # resolved (from the result) where known, else as given
    summary: dict | None  # metrics (no curves)
    live: session.LiveRun | None = None  # this session's live run (Playground or grid), if it is one
    given: dict | None = None  # the config as given when it started: the base of "change one knob"

    @property
    def training(self) -> bool:
        """Still advancing, or waiting for a training slot to."""
        return self.state.active


def collect_entries(ws: str) -> list[Entry]:
    store = session.run_store()
    job = st.session_state.get("cmp_grid")
    live = {lr.store_id: lr for lr in session.live_runs() + (job.live_runs() if job else [])}
    entries = []
    for row in store.list_summaries(ws):
        summary = row.result
        config = (summary or {}).get("config") or row.config
        state = row.status
        lr = live.get(row.id)
        if lr is not None:
            state = lr.state
            config = lr.run.config.to_dict()
            if state.active or summary is None:
                full = session.result_of(lr)  # a consistent copy (cached once the run is over)
                summary = {
                    k: full.get(k)
                    for k in (
                        "avg_acc",
                        "forgetting",
                        "bwt",
                        "fwt",
                        "wall_s",
                        "steps",
                        "train_samples_per_s",
                        "offline",
                        "tasks",
                        "task_il",
                    )
                }
        entries.append(
            Entry(
                row.id,
                row.label or t("compare.runs.unnamed", id=row.id),
                state,
                row.created,
                config,
                summary,
                lr,
                row.config,
            )
        )
    return entries


def full_result(ws: str, entry: Entry) -> dict | None:
    if entry.live is not None:
        return session.result_of(entry.live)
    row = session.run_store().get(entry.id, ws)
    return row.result if row else None


def name_of(entry: Entry) -> str:
    return f"#{entry.id} {entry.label}"
