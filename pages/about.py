"""About: what continual learning is, how to read every chart, the metrics, presets and data attribution."""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import streamlit as st

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run directly (AppTest.from_file("pages/about.py")) as well as via app.py
    sys.path.insert(0, str(ROOT))

from clcore import STRATEGIES  # noqa: E402
from pages.shared import session  # noqa: E402

session.run_through_app()


def lecture_preset_table() -> pd.DataFrame | None:
    """The Playground's lecture presets (pages/shared/presets.py) with the times measured for them."""
    try:
        from pages.shared.presets import LECTURE_PRESETS
    except Exception:  # noqa: BLE001 - the About page must render even without the Playground's module
        return None
    rows = []
    for name, preset in LECTURE_PRESETS.items():
        settings = preset.get("settings") or {}
        measured, cpu = preset.get("measured_s"), preset.get("measured_cpu_s")
        rows.append({"preset": preset.get("title", name), "strategy": settings.get("strategy", ""),
                     "benchmark": settings.get("benchmark", ""),
                     "tasks": str(settings.get("n_tasks") or "default"),
                     "examples per task": str(settings.get("train_subset") or "all"),
                     "measured wall time (s)": "not measured" if measured is None else f"{measured:.1f}",
                     "CPU time (s)": "–" if cpu is None else f"{cpu:.1f}"})
    return pd.DataFrame(rows) if rows else None


st.title("About the Continual Learning Playground")

st.markdown("""
### Continual learning and catastrophic forgetting

A neural network is usually trained on one fixed data set, shuffled, for as long as it takes.
**Continual learning** asks what happens when the data arrive as a *sequence of tasks* instead —
first the digits 0 and 1, then 2 and 3, then 4 and 5, … — and the network may only train on the
current task, the way a person (or a deployed system) keeps learning new things over time.

Train a plain network this way and it learns each new task well but **forgets the old ones almost
completely**: the gradient steps that fit task 2 overwrite the weights that solved task 1. This is
**catastrophic forgetting** (McCloskey & Cohen 1989; French 1999). It is not a lack of capacity — the
same network trained on all tasks mixed together (*joint* training, the upper bound) solves them all.

Continual-learning **strategies** fight forgetting in three main ways:

* **Replay** keeps a small memory buffer of past examples and mixes them into every new batch
  (ER, DER, DER++, CLS-ER). The buffer size is the key knob.
* **Regularisation** estimates how important each weight was for the old tasks and penalises moving
  the important ones (EWC, SI), or distils the old model's outputs (LwF).
* **Complementary learning systems** (CLS-ER) keep a fast-adapting *plastic* and a slowly-consolidating
  *stable* copy of the network, as the hippocampus and neocortex are thought to do.

**Scenarios** decide how hard the test is: in **Task-IL** the model is told which task an image comes
from (it only has to pick among that task's classes); in **Class-IL** it must pick among *all* classes
seen so far (much harder: this is where plain fine-tuning drops to ~20% on Split MNIST); in **Domain-IL**
(Permuted / Rotated MNIST) the classes stay the same and the input distribution changes.
""")

st.markdown("### The strategies")
st.dataframe(pd.DataFrame([{"strategy": name, "name": cls.title, "what it does": cls.summary,
                            "uses a buffer": "yes" if cls.uses_buffer else "no",
                            "parameters": ", ".join(p.name for p in cls.params) or "-"}
                           for name, cls in STRATEGIES.items()]),
             hide_index=True, width="stretch")

st.markdown("""
### How to read the charts

**Accuracy heatmap R[i][j].** Row *i* is "after training task *i*", column *j* is "test accuracy on task *j*",
in percent, on a fixed 0–100 colour scale (dark = 0, bright = 100) with the value written in every cell.
It fills in one row per finished task. The **diagonal** shows how well each task was learned; everything
**left of the diagonal** shows what is remembered of earlier tasks (forgetting makes these cells go dark);
cells **right of the diagonal** are tasks not trained yet (near 0 in Class-IL, chance or better in Domain-IL).
The Class-IL / Task-IL switch on split benchmarks shows the same model graded both ways.

**Forgetting curves.** One line per task: its test accuracy (on a fixed test subset, measured about
20 times per task) against the training step. Dashed vertical lines mark task boundaries. A line
rises while its task is trained and, without a remedy, falls as soon as the next task starts — the
drop *is* catastrophic forgetting. On the Compare page the curves of several runs are overlaid:
either the **average accuracy over the tasks seen so far**, or one chosen task, one line per run.

**Loss curve.** The training loss (mean over each logging window) against the step. Spikes at task
boundaries are new classes arriving; a loss that keeps rising or becomes NaN means the learning rate
is too high (the run then stops with a message).

**Buffer composition.** For replay strategies: how many buffer slots hold each class (or task) over
training, with a few sample images. Reservoir sampling keeps the buffer an unbiased sample of
everything seen, so older tasks' share shrinks as new tasks arrive.

**EWC / SI importance maps.** At each task end the strategy estimates an importance per weight (EWC: the
diagonal Fisher information; SI: the path integral of each weight's contribution to the loss). For the
first layer of the MLP every hidden unit has 784 incoming weights, drawn as a 28×28 image of their
importance: the **pixels each unit relies on** for the tasks learned so far. The **per-input-pixel map**
sums these over units, per task — typically the strokes of that task's digits. The **per-layer histograms**
(log10 importance) show how concentrated importance is: a few very important weights are anchored hard,
most remain free to learn the next task.

**Compare page.** Several runs at once: their forgetting curves overlaid (one colour per run, from a
colour-blind-safe palette, with dots at the task ends measured on the full test sets), their heatmaps side
by side on the same 0–100 scale, and a metrics table in which the settings that differ between the runs
are highlighted — change one knob, run again, and the table shows exactly what that knob did.

**CLS-ER teacher shares.** CLS-ER matches every buffer sample to the teacher — plastic (fast) or stable
(slow) — that gives its true label the higher probability. The chart shows, over training, the share
of buffer samples that took each teacher, split by the task the sample came from: recent tasks tend to
use the plastic teacher, older tasks the stable one. The side-by-side accuracies of the **working**,
**plastic** and **stable** models show why inference uses the stable model.
""")

st.markdown("### The metrics")
st.markdown("With *T* tasks seen and R[i][j] the accuracy (%) on task *j* after training task *i* "
            "(the heatmap; a stopped run uses the rows it has):")
st.markdown("**Average accuracy** — mean accuracy over all tasks seen, after the last one (higher is better):")
st.latex(r"\mathrm{ACC} = \frac{1}{T}\sum_{j=1}^{T} R_{T,j}")
st.markdown("**Forgetting** — how far each old task fell from the best accuracy it ever had "
            "(Chaudhry et al. 2018; lower is better, 0 = nothing forgotten):")
st.latex(r"\mathrm{F} = \frac{1}{T-1}\sum_{j=1}^{T-1} \Big(\max_{i \in [j, T-1]} R_{i,j} - R_{T,j}\Big)")
st.markdown("**Backward transfer (BWT)** — how learning later tasks changed the earlier ones "
            "(Lopez-Paz & Ranzato 2017; negative = forgetting, positive = later tasks helped):")
st.latex(r"\mathrm{BWT} = \frac{1}{T-1}\sum_{j=1}^{T-1} \big(R_{T,j} - R_{j,j}\big)")
st.markdown("**Forward transfer (FWT)** — how much the earlier tasks helped a task *before* it was trained, "
            "compared with the randomly initialised network's accuracy b_j (≈ 0 in Class-IL, where unseen classes "
            "are never predicted):")
st.latex(r"\mathrm{FWT} = \frac{1}{T-1}\sum_{j=2}^{T} \big(R_{j-1,j} - b_j\big)")
st.caption("The Playground reports these for the model used at inference (CLS-ER: the stable model). "
           "Joint training sees all tasks at once, so it has a single row and only an average accuracy.")

st.markdown("### Lecture presets: measured times")
table = lecture_preset_table()
if table is not None:
    st.dataframe(table, hide_index=True, width="stretch")
    st.caption("Time of the whole run through the engine (`python -m pages.shared.presets`), measured on the "
               "reference machine: 2 CPU cores, no GPU. The machine was shared with other jobs while measuring, "
               "so these are upper bounds; a GPU or a faster CPU is quicker. The paper presets (full training "
               "sets) take minutes on a CPU.")
else:
    st.info("Each lecture preset is sized to finish in under a minute on a 2-core CPU; "
            "the Playground's preset menu states its settings.")

st.markdown("### Your runs and privacy")
st.markdown("""
Every browser session gets its own **workspace** (the `ws` value in the address bar). Runs are kept in a
small SQLite database on the server, filed under that workspace: other people using the same server never
see them, and they survive a restart. Keep the address to come back to your runs; the **Share** link on the
Playground carries only the run's settings, never your workspace. A run cut short by a server restart or a
closed tab is kept, marked *interrupted*.
""")

st.markdown("### Data")
st.markdown("""
The digits are the **MNIST database of handwritten digits** by **Yann LeCun, Corinna Cortes and
Christopher J. C. Burges** (http://yann.lecun.com/exdb/mnist/), bundled with the app (`assets/mnist.npz`)
so that it works offline, unchanged in content. MNIST is made available under the
[Creative Commons Attribution-Share Alike 3.0 license (CC BY-SA 3.0)](https://creativecommons.org/licenses/by-sa/3.0/),
and is redistributed here under the same license; see `assets/README.md` for the file's provenance.
Split MNIST, Permuted MNIST and Rotated MNIST are all built from this file.
""")
