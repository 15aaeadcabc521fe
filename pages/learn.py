"""Learn: the ideas behind continual learning and one card per strategy, with a "Try it" into the Playground.

Every visible text comes from the string catalogs (pages/shared/i18n.py, locales/<lang>.json): the
concept sections under `learn.*`, each card under `strategy.<name>.*`. What does not depend on the
language lives here: each card's update rule (LaTeX in the paper's notation), its reference and what its
"Try it" runs: a strategy on a benchmark at its recommended settings (clcore.settings.recommended), or the lecture
preset built on them (URL parameters of the Playground, pages/shared/controls.py).
Cards are shown for the strategies the engine registers (clcore.STRATEGIES), grouped by family.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import streamlit as st

from clcore import STRATEGIES
from clcore.data.benchmarks import BENCHMARKS
from clcore.runs import metrics
from clcore.strategies.base import FAMILIES
from pages.shared import controls, expectations, i18n, session
from pages.shared.i18n import t
from pages.shared.presets import LECTURE_PRESETS

PLAYGROUND = "pages/playground.py"
GO_KEY = "_learn_try"  # the card whose "Try it" was pressed, until the page switch
SCENARIOS = ("task-il", "domain-il", "class-il")
# Catalog texts of every card, `strategy.<name>.<text>`: its name, the idea, the symbols of its rule, what it
# needs, strengths, limits, and what its Try-it run shows.
CARD_TEXTS = ("title", "idea", "rule", "needs", "strengths", "limits", "try")


def recommended_run(strategy: str, benchmark: str = "split-mnist", scenario: str | None = None) -> dict[str, str]:
    """Playground URL parameters of a card's "Try it": the strategy on the benchmark, in `scenario` where the
    card's story needs it; the Playground takes everything else from the recommended settings
    (clcore.settings.recommended)."""
    return {"benchmark": benchmark, "strategy": strategy, **({"scenario": scenario} if scenario else {})}


@dataclass(frozen=True)
class Card:
    rule: str  # the loss or update rule, LaTeX
    reference: str  # authors, title, venue, year
    # Playground URL parameters: a recommended run, or a lecture preset (the same run, with the preset's note)
    try_it: dict[str, str] = field(default_factory=dict)


CARDS: dict[str, Card] = {
    # --- baselines -------------------------------------------------------------------------------
    "finetune": Card(
        r"\theta \leftarrow \theta - \eta\,\nabla_\theta\,\ell\big(f_\theta(x), y\big),"
        r"\qquad (x, y) \sim \mathcal{D}_t",
        "Li & Hoiem, Learning without Forgetting, ECCV 2016 (the fine-tuning baseline); "
        "McCloskey & Cohen, Catastrophic interference in connectionist networks, 1989",
        {"preset": "forgetting-30s"},
    ),
    "joint": Card(
        r"\min_\theta\ \sum_{t=1}^{T}\ \mathbb{E}_{(x,y)\sim\mathcal{D}_t}\,\ell\big(f_\theta(x), y\big)",
        "Li & Hoiem, Learning without Forgetting, ECCV 2016 (the joint-training upper bound)",
        {"preset": "joint"},
    ),
    "cumulative": Card(
        r"\theta_t = \arg\min_\theta\ \mathbb{E}_{(x,y)\sim\mathcal{D}_1\cup\cdots\cup\mathcal{D}_t}\,"
        r"\ell\big(f_\theta(x), y\big)",
        "Lomonaco & Maltoni, CORe50: a New Dataset and Benchmark for Continuous Object Recognition, "
        "CoRL 2017 (the cumulative strategy)",
        recommended_run("cumulative"),
    ),
    "ensemble": Card(
        r"f_t = \arg\min_{f}\ \mathbb{E}_{\mathcal{D}_t}\,\ell\big(f(x), y\big),\qquad"
        r"\hat t(x) = \arg\max_{k}\ \max_c\ \operatorname{softmax}\big(f_k(x)\big)_c",
        "Aljundi, Chakravarty & Tuytelaars, Expert Gate: Lifelong Learning with a Network of Experts, "
        "CVPR 2017 (one expert per task)",
        recommended_run("ensemble"),
    ),
    # --- replay ----------------------------------------------------------------------------------
    "er": Card(
        r"\mathcal{L} = \mathbb{E}_{(x,y)\sim\mathcal{D}_t}\,\ell\big(f_\theta(x), y\big)"
        r" + \mathbb{E}_{(x',y')\sim\mathcal{M}}\,\ell\big(f_\theta(x'), y'\big)",
        "Chaudhry et al., On Tiny Episodic Memories in Continual Learning, arXiv:1902.10486, 2019; "
        "Rolnick et al., Experience Replay for Continual Learning, NeurIPS 2019; reservoir sampling: "
        "Vitter, ACM TOMS 1985",
        {"preset": "replay"},
    ),
    "der": Card(
        r"\mathcal{L} = \mathbb{E}_{(x,y)\sim\mathcal{D}_t}\,\ell\big(y, f_\theta(x)\big)"
        r" + \alpha\,\mathbb{E}_{(x',z')\sim\mathcal{M}}\,\big\lVert z' - h_\theta(x')\big\rVert_2^2",
        "Buzzega, Boschini, Porrello, Abati & Calderara, Dark Experience for General Continual Learning: "
        "a Strong, Simple Baseline, NeurIPS 2020",
        recommended_run("der"),
    ),
    "derpp": Card(
        r"\mathcal{L} = \mathbb{E}_{\mathcal{D}_t}\,\ell\big(y, f_\theta(x)\big)"
        r" + \alpha\,\mathbb{E}_{(x',z')\sim\mathcal{M}}\big\lVert z' - h_\theta(x')\big\rVert_2^2"
        r" + \beta\,\mathbb{E}_{(x'',y'')\sim\mathcal{M}}\,\ell\big(y'', f_\theta(x'')\big)",
        "Buzzega, Boschini, Porrello, Abati & Calderara, Dark Experience for General Continual Learning: "
        "a Strong, Simple Baseline, NeurIPS 2020",
        recommended_run("derpp"),
    ),
    "clser": Card(
        r"\begin{aligned}&\mathcal{L} = \mathcal{L}_{CE}\big(\mathcal{B}\cup\mathcal{B}_{\mathcal{M}}\big)"
        r" + \lambda\,\mathbb{E}_{(x,y)\sim\mathcal{B}_{\mathcal{M}}}\big\lVert Z^{*}(x) - f_\theta(x)\big\rVert_2^2,"
        r"\\ &Z^{*}(x) = f_{\theta_{k^*}}(x),\quad k^{*} = \arg\max_{k\in\{P,S\}}\,"
        r"\operatorname{softmax}\big(f_{\theta_k}(x)\big)_y\end{aligned}",
        "Arani, Sarfraz & Zonooz, Learning Fast, Learning Slow: A General Continual Learning Method based on "
        "Complementary Learning System, ICLR 2022",
        {"preset": "clser"},
    ),
    "gdumb": Card(
        r"\theta^\star = \arg\min_{\theta}\ \mathbb{E}_{(x,y)\sim\mathcal{M}}\,\ell\big(f_\theta(x), y\big),"
        r"\qquad |\mathcal{M}_c| \approx \frac{k}{|\mathcal{C}_{\le t}|}",
        "Prabhu, Torr & Dokania, GDumb: A Simple Approach that Questions Our Progress in Continual Learning, ECCV 2020",
        recommended_run("gdumb"),
    ),
    "mir": Card(
        r"\theta^{v} = \theta - \eta\,\nabla_\theta\,\ell(\mathcal{B}_t;\theta),\quad"
        r"s(x') = \ell(x';\theta^{v}) - \ell(x';\theta),\quad"
        r"\mathcal{B}_{\mathcal{M}} = \operatorname{top}_k\, s(x'),\ x' \in \mathcal{C} \subset \mathcal{M}",
        "Aljundi, Caccia, Belilovsky, Caccia, Lin, Charlin & Tuytelaars, Online Continual Learning with "
        "Maximally Interfered Retrieval, NeurIPS 2019",
        recommended_run("mir"),
    ),
    "latent_replay": Card(
        r"\mathcal{L} = \ell\big(g_\phi(h_{\bar\psi}(x)), y\big)"
        r" + \mathbb{E}_{(a',y')\sim\mathcal{M}}\,\ell\big(g_\phi(a'), y'\big)",
        "Pellegrini, Graffieti, Lomonaco & Maltoni, Latent Replay for Real-Time Continual Learning, IROS 2020",
        recommended_run("latent_replay"),
    ),
    "generative_replay": Card(
        r"\mathcal{L}_S = r\,\mathbb{E}_{(x,y)\sim\mathcal{D}_t}\,\ell\big(S(x), y\big)"
        r" + (1-r)\,\mathbb{E}_{x'\sim G_{t-1}}\,\ell\big(S(x'), \arg\max_c S_{t-1}(x')_c\big)",
        "Shin, Lee, Kim & Kim, Continual Learning with Deep Generative Replay, NeurIPS 2017",
        recommended_run("generative_replay"),
    ),
    # --- regularisation --------------------------------------------------------------------------
    "lwf": Card(
        r"\mathcal{L} = \ell\big(y, f_\theta(x)\big) + \alpha\,T^2\,"
        r"\mathrm{KL}\Big(\sigma\big(z^{o}/T\big)\,\Big\Vert\,\sigma\big(z_{\mathcal{C}_{<t}}/T\big)\Big)",
        "Li & Hoiem, Learning without Forgetting, ECCV 2016 (TPAMI 2018)",
        recommended_run("lwf", scenario="task-il"),
    ),
    "ewc": Card(
        r"\mathcal{L}(\theta) = \mathcal{L}_t(\theta) + \lambda\sum_k F^{*}_k\,\big(\theta_k - \theta^{*}_k\big)^2,"
        r"\qquad F^{*} \leftarrow \gamma F^{*} + F_t,\quad"
        r"F_{t,k} = \mathbb{E}_{\mathcal{D}_t}\big[(\partial_{\theta_k}\log p_\theta(y\mid x))^2\big]",
        "Kirkpatrick et al., Overcoming catastrophic forgetting in neural networks, PNAS 2017; online EWC: "
        "Schwarz et al., Progress & Compress, ICML 2018",
        {"preset": "ewc-permuted"},
    ),
    "si": Card(
        r"\tilde{\mathcal{L}}_\mu = \mathcal{L}_\mu + c\sum_k \Omega^\mu_k\big(\tilde\theta_k - \theta_k\big)^2,"
        r"\quad \Omega^\mu_k = \sum_{\nu<\mu}\frac{\omega^\nu_k}{(\Delta^\nu_k)^2 + \xi},"
        r"\quad \omega^\nu_k = -\int_{t^{\nu-1}}^{t^\nu} g_k\big(\theta(t)\big)\,\theta_k'(t)\,dt",
        "Zenke, Poole & Ganguli, Continual Learning Through Synaptic Intelligence, ICML 2017",
        recommended_run("si", "permuted-mnist"),
    ),
    # --- hybrid ----------------------------------------------------------------------------------
    "gem": Card(
        r"\min_{\tilde g}\ \tfrac12\,\lVert g - \tilde g\rVert_2^2\quad"
        r"\mathrm{s.t.}\quad \langle \tilde g, g_k\rangle \ge 0\quad \forall k < t",
        "Lopez-Paz & Ranzato, Gradient Episodic Memory for Continual Learning, NeurIPS 2017",
        recommended_run("gem"),
    ),
    "agem": Card(
        r"\tilde g = g - \frac{\min\big(0,\ g^\top g_{\mathrm{ref}}\big)}{g_{\mathrm{ref}}^\top g_{\mathrm{ref}}}"
        r"\; g_{\mathrm{ref}}",
        "Chaudhry, Ranzato, Rohrbach & Elhoseiny, Efficient Lifelong Learning with A-GEM, ICLR 2019",
        recommended_run("agem"),
    ),
    "icarl": Card(
        r"\begin{aligned}\ell(x_i) = &-\sum_{y\in\mathcal{C}_t}\big[\delta_{y=y_i}\log g_y(x_i)"
        r" + \delta_{y\ne y_i}\log(1-g_y(x_i))\big]\\ &-\sum_{y\in\mathcal{C}_{<t}}\big[q^y_i\log g_y(x_i)"
        r" + (1-q^y_i)\log(1-g_y(x_i))\big],\qquad y^{*} = \arg\min_y\,\lVert\varphi(x) - \mu_y\rVert"
        r"\end{aligned}",
        "Rebuffi, Kolesnikov, Sperl & Lampert, iCaRL: Incremental Classifier and Representation Learning, CVPR 2017",
        recommended_run("icarl"),
    ),
    "progress_compress": Card(
        r"\mathbb{E}_{x\sim\mathcal{D}_t}\Big[\mathrm{KL}\big(\pi_{A}(\cdot\mid x)\,\Vert\,"
        r"\pi_{KB}(\cdot\mid x)\big)\Big] + \lambda\sum_k F^{*}_k\big(\theta^{KB}_k - \theta^{KB*}_k\big)^2",
        "Schwarz, Luketina, Czarnecki, Grabska-Barwinska, Teh, Pascanu & Hadsell, Progress & Compress: "
        "A scalable framework for continual learning, ICML 2018",
        recommended_run("progress_compress", "permuted-mnist"),
    ),
    "ar1": Card(
        r"cw_j \leftarrow \frac{cw_j\,w_j + (tw_j - \overline{tw})}{w_j + 1},\ "
        r"w_j = \sqrt{\tfrac{past_j}{cur_j}};\qquad"
        r"\mathcal{L} = \ell + c\sum_k \Omega_k\big(\theta_k - \theta^{*}_k\big)^2",
        "Maltoni & Lomonaco, Continuous learning in single-incremental-task scenarios, Neural Networks 116, "
        "2019; Pellegrini, Graffieti, Lomonaco & Maltoni, Latent Replay for Real-Time Continual Learning, "
        "IROS 2020",
        recommended_run("ar1"),
    ),
    "generative_negative_replay": Card(
        r"\mathcal{L}_{\mathrm{neg}}(x', y') = \mathrm{CE}(\tilde z, y'),\qquad"
        r"\tilde z_c = \begin{cases} z_c & c \in \mathcal{C}_t \setminus \{y'\}\\"
        r" \operatorname{sg}(z_c) & c \notin \mathcal{C}_t \setminus \{y'\}\end{cases}",
        "Graffieti, Maltoni, Pellegrini & Lomonaco, Generative negative replay for continual learning, "
        "Neural Networks 162, 2023",
        recommended_run("generative_negative_replay"),
    ),
    "dualnet": Card(
        r"m_l = g_l(m_{l-1}) \odot h_l,\quad"
        r"\mathcal{L}_{BT} = \sum_i (1 - \mathcal{C}_{ii})^2 + \lambda\sum_i\sum_{j\ne i}\mathcal{C}_{ij}^2,\quad"
        r"\phi \leftarrow \phi + \beta\,(\phi' - \phi)",
        "Pham, Liu & Hoi, DualNet: Continual Learning, Fast and Slow, NeurIPS 2021",
        recommended_run("dualnet"),
    ),
    "mer": Card(
        r"\theta_k = \theta_{k-1} - \eta\,\nabla\ell_{B_k}(\theta_{k-1}),\quad"
        r"\theta \leftarrow \theta_0 + \beta\,(\theta_k - \theta_0);\qquad"
        r"\max\ \mathbb{E}\big[\nabla\ell_i\cdot\nabla\ell_j\big]",
        "Riemer, Cases, Ajemian, Liu, Rish, Tu & Tesauro, Learning to Learn without Forgetting by Maximizing "
        "Transfer and Minimizing Interference, ICLR 2019",
        recommended_run("mer"),
    ),
    "lamaml": Card(
        r"\theta_k = \theta_{k-1} - \operatorname{relu}(\alpha)\odot\nabla\ell(x_k;\theta_{k-1}),\quad"
        r"\alpha \leftarrow \alpha - \eta\,\nabla_\alpha\mathcal{L}_{meta}(\theta_k),\quad"
        r"\theta \leftarrow \theta - \operatorname{relu}(\alpha)\odot\nabla_\theta\mathcal{L}_{meta}(\theta_k)",
        "Gupta, Yadav & Paull, La-MAML: Look-ahead Meta Learning for Continual Learning, NeurIPS 2020",
        recommended_run("lamaml"),
    ),
    "lfd": Card(
        r"\begin{aligned}&d^{*} = \arg\min_{\lVert d\rVert = 1}\mathcal{L}_{\mathcal{M}}(\theta_{o} + r\,d),\qquad"
        r"\mathcal{L} = \mathcal{L}_t(\theta) + \lambda_\perp\big\lVert (I - d^{*}d^{*\top})(\theta - \theta_{o})"
        r"\big\rVert^2,\\ &a^{*} = \arg\min_{a\in[0,1]}\ \bar{\mathcal{L}}\big(\theta_{o} + a\,(\theta_{n} -"
        r" \theta_{o})\big)\end{aligned}",
        "Wen, Qiu, Wang, Cheng & Li, Class Incremental Learning with Less Forgetting Direction and "
        "Equilibrium Point, IEEE TCSVT 2024",
        recommended_run("lfd"),
    ),
    # --- architecture ----------------------------------------------------------------------------
    "cwr_star": Card(
        r"cw_j \leftarrow \frac{cw_j\,w_j + (tw_j - \overline{tw})}{w_j + 1},\qquad"
        r"w_j = \sqrt{\tfrac{past_j}{cur_j}},\qquad past_j \leftarrow past_j + cur_j",
        "Lomonaco, Maltoni & Pellegrini, Rehearsal-Free Continual Learning over Small Non-I.I.D. Batches, "
        "CVPR Workshops 2020; CWR: Lomonaco & Maltoni, CoRL 2017",
        recommended_run("cwr_star"),
    ),
    "multihead": Card(
        r"\hat y = \arg\max_{c\in\mathcal{C}_t}\ \big(W_t\,h_\theta(x) + b_t\big)_c",
        "van de Ven & Tolias, Three scenarios for continual learning, arXiv:1904.07734, 2019",
        recommended_run("multihead", scenario="task-il"),
    ),
    "pnn": Card(
        r"h^{(k)}_i = \sigma\Big(W^{(k)}_i h^{(k)}_{i-1} + U^{(k:j)}_i\,"
        r"\sigma\big(V^{(k:j)}_i\,\alpha^{(<k)}_{i-1}\,h^{(<k)}_{i-1}\big)\Big)",
        "Rusu et al., Progressive Neural Networks, arXiv:1606.04671, 2016",
        recommended_run("pnn", scenario="task-il"),
    ),
    "packnet": Card(
        r"W^{(t)} = W \odot \bigvee_{k\le t} M_k,\qquad"
        r"M_t = \operatorname{top}_{1-p}\big(|W| \odot F_t\big),\quad F_t = \lnot\bigvee_{k<t} M_k",
        "Mallya & Lazebnik, PackNet: Adding Multiple Tasks to a Single Network by Iterative Pruning, CVPR 2018",
        recommended_run("packnet", scenario="task-il"),
    ),
    "piggyback": Card(
        r"W^{(t)} = W \odot m^{(t)},\qquad m^{(t)}_{ij} = \mathbb{1}\big[r^{(t)}_{ij} > \tau\big],\qquad"
        r"\frac{\partial\mathcal{L}}{\partial r^{(t)}_{ij}} \approx \frac{\partial\mathcal{L}}{\partial m^{(t)}_{ij}}",
        "Mallya, Davis & Lazebnik, Piggyback: Adapting a Single Network to Multiple Tasks by Learning to Mask "
        "Weights, ECCV 2018",
        recommended_run("piggyback", scenario="task-il"),
    ),
    "hat": Card(
        r"a^t_l = \sigma(s\,e^t_l),\quad"
        r"g'_{l,ij} = \big(1 - \min(a^{<t}_{l,i}, a^{<t}_{l-1,j})\big)\,g_{l,ij},\quad"
        r"R = c\,\frac{\sum_l\sum_i a^t_{l,i}\,(1 - a^{<t}_{l,i})}{\sum_l\sum_i (1 - a^{<t}_{l,i})}",
        "Serrà, Surís, Miron & Karatzoglou, Overcoming Catastrophic Forgetting with Hard Attention to the "
        "Task, ICML 2018",
        recommended_run("hat", scenario="task-il"),
    ),
    "hypernetwork": Card(
        r"\Theta^{(t)} = f_h\big(e^{(t)}, \Theta_h\big),\quad"
        r"\mathcal{L} = \mathcal{L}_{t}\big(\Theta_h, e^{(t)}\big) + \frac{\beta}{t-1}\sum_{t'<t}"
        r"\big\lVert f_h(e^{(t')}, \Theta_h^{*}) - f_h(e^{(t')}, \Theta_h + \Delta\Theta_h)\big\rVert^2",
        "von Oswald, Henning, Sacramento & Grewe, Continual learning with hypernetworks, ICLR 2020",
        recommended_run("hypernetwork", scenario="task-il"),
    ),
    "supsup": Card(
        r"y = f\big(x;\ W \odot M^{t}\big),\qquad"
        r"\hat t = \arg\max_i\Big(-\frac{\partial}{\partial\alpha_i}\,"
        r"\mathcal{H}\Big(f\big(x;\ W \odot \textstyle\sum_j \alpha_j M^{j}\big)\Big)\Big)",
        "Wortsman, Ramanujan, Liu, Kembhavi, Rastegari, Yosinski & Farhadi, Supermasks in Superposition, NeurIPS 2020",
        recommended_run("supsup", scenario="task-il"),
    ),
    "den": Card(
        r"\min_{W^t}\ \mathcal{L}(W^t; \mathcal{D}_t) + \mu\lVert W^t\rVert_1"
        r" + \tfrac{\lambda}{2}\lVert W^t - W^{t-1}\rVert_2^2,\quad"
        r"\mathcal{L} > \tau \Rightarrow \text{expand: } + \gamma\textstyle\sum_g\lVert W_g\rVert_2,\quad"
        r"\lVert w^t_j - w^{t-1}_j\rVert_2 > \sigma \Rightarrow \text{split } j",
        "Yoon, Yang, Lee & Hwang, Lifelong Learning with Dynamically Expandable Networks, ICLR 2018",
        recommended_run("den", scenario="task-il"),
    ),
}

# The worked example of the metrics section: three Domain-IL tasks (e.g. permuted MNIST), R[i][j] = accuracy
# (%) on task j after training task i, and the accuracies of the randomly initialised network. Task 1 still
# improves while task 2 trains (97 > 95), so forgetting (from the best) and BWT (from the diagonal) differ.
EXAMPLE_MATRIX = [[95.0, 12.0, 9.0], [97.0, 96.0, 14.0], [55.0, 80.0, 98.0]]
EXAMPLE_RANDOM = [10.0, 11.0, 10.0]


# ------------------------------------------------------------------------------------------------
# Try it
# ------------------------------------------------------------------------------------------------
def try_it_state(name: str) -> dict:
    """The Playground's control values for a card's "Try it" (the controls' own URL parsing)."""
    state, _ = controls.parse_url(dict(CARDS[name].try_it))
    return state


def _on_try(name: str) -> None:
    """Button callback: load the card's settings into the Playground's controls (and their saved copy:
    the Playground reads the URL only on its first visit in a session) and ask `page()` to go there.
    Pages can only be switched to from the script itself, after app.py has registered them."""
    controls.apply_state(try_it_state(name))
    preset = CARDS[name].try_it.get("preset", "")
    st.session_state[controls.PRESET_KEY] = preset if preset in LECTURE_PRESETS else ""
    st.session_state[GO_KEY] = name


def follow_try_it() -> None:
    """Open the Playground if a "Try it" was pressed, with the card's settings in the URL too."""
    name = st.session_state.pop(GO_KEY, None)
    if name in CARDS:
        st.switch_page(PLAYGROUND, query_params={**CARDS[name].try_it, **i18n.url_params()})


# ------------------------------------------------------------------------------------------------
# Sections
# ------------------------------------------------------------------------------------------------
def card_anchor(name: str) -> str:
    return "card-" + name.replace("_", "-")


def card_link(name: str) -> str:
    return f"[{t(f'strategy.{name}.title')}](#{card_anchor(name)})"


def families() -> dict[str, list[str]]:
    """Registered strategies by family (the registry's order: family, then name)."""
    out = {family: [] for family in FAMILIES}
    for name, cls in STRATEGIES.items():
        out[cls.family].append(name)
    return {family: names for family, names in out.items() if names}


def forgetting_section() -> None:
    st.header(t("learn.forgetting.heading"), anchor="forgetting")
    st.markdown(t("learn.forgetting.body"))


def scenarios_section() -> None:
    st.header(t("learn.scenarios.heading"), anchor="scenarios")
    st.markdown(t("learn.scenarios.body"))
    columns = ("told", "choose", "example", "hardness")
    table = pd.DataFrame(
        [[t(f"learn.scenarios.{s}.{c}") for c in columns] for s in SCENARIOS],
        index=[t(f"learn.scenarios.{s}.name") for s in SCENARIOS],
        columns=[t(f"learn.scenarios.column.{c}") for c in columns],
    )
    st.table(table)
    st.markdown(t("learn.scenarios.note"))


def _fmt(value: float) -> str:
    return f"{value:.2f}"


def _num(value: float) -> str:
    return f"{value:g}"


def metrics_section() -> None:
    """The accuracy matrix and its metrics on EXAMPLE_MATRIX, computed by clcore.runs.metrics."""
    st.header(t("learn.metrics.heading"), anchor="metrics")
    st.markdown(t("learn.metrics.reading"))
    R, b = EXAMPLE_MATRIX, EXAMPLE_RANDOM
    n = len(R)
    st.subheader(t("learn.metrics.example_heading"), anchor="worked-example")
    st.markdown(t("learn.metrics.example_intro"))
    tasks = [t("learn.metrics.on_task", j=j + 1) for j in range(n)]
    rows = [t("learn.metrics.after_task", i=i + 1) for i in range(n)] + [t("learn.metrics.random_row")]
    st.table(pd.DataFrame([[_num(v) for v in r] for r in [*R, b]], index=rows, columns=tasks))

    k = n - 1  # the last task (0-based)
    acc, forget = metrics.average_accuracy(R), metrics.forgetting(R)
    bwt, fwt = metrics.backward_transfer(R), metrics.forward_transfer(R, b)
    cols = st.columns(4)
    for col, key, value in zip(cols, ("acc", "forgetting", "bwt", "fwt"), (acc, forget, bwt, fwt)):
        col.metric(t(f"learn.metrics.{key}.name"), _fmt(value), help=t(f"learn.metrics.{key}.help"))

    old = range(k)
    best = [f"\\max({', '.join(_num(R[i][j]) for i in range(j, k))})" if k - j > 1 else _num(R[j][j]) for j in old]
    worked = {
        "acc": (
            r"\mathrm{ACC} = \frac{1}{T}\sum_{j=1}^{T} R_{T,j}",
            rf"\tfrac{{1}}{{{n}}}({' + '.join(_num(R[k][j]) for j in range(n))}) = {_fmt(acc)}",
        ),
        "forgetting": (
            r"\mathrm{F} = \frac{1}{T-1}\sum_{j=1}^{T-1}\Big(\max_{i\in[j,T-1]} R_{i,j} - R_{T,j}\Big)",
            rf"\tfrac{{1}}{{{k}}}\big({' + '.join(f'({best[j]} - {_num(R[k][j])})' for j in old)}\big)"
            rf" = {_fmt(forget)}",
        ),
        "bwt": (
            r"\mathrm{BWT} = \frac{1}{T-1}\sum_{j=1}^{T-1}\big(R_{T,j} - R_{j,j}\big)",
            rf"\tfrac{{1}}{{{k}}}\big({' + '.join(f'({_num(R[k][j])} - {_num(R[j][j])})' for j in old)}\big)"
            rf" = {_fmt(bwt)}",
        ),
        "fwt": (
            r"\mathrm{FWT} = \frac{1}{T-1}\sum_{j=2}^{T}\big(R_{j-1,j} - b_j\big)",
            rf"\tfrac{{1}}{{{k}}}\big({' + '.join(f'({_num(R[j - 1][j])} - {_num(b[j])})' for j in range(1, n))}"
            rf"\big) = {_fmt(fwt)}",
        ),
    }
    # task 1's peak (the example is built so that it comes after task 1: forgetting and BWT then differ)
    peak = max(range(k), key=lambda i: R[i][0])
    values = {"forgetting": dict(best=_num(R[peak][0]), peak_task=peak + 1, first=_num(R[0][0]))}
    for key, (definition, example) in worked.items():
        meaning = t(f"learn.metrics.{key}.meaning", **values.get(key, {}))
        st.markdown(f"**{t(f'learn.metrics.{key}.name')}**: {meaning}")
        st.latex(f"{definition} \\;=\\; {example}")
    curve = metrics.accuracy_after_each_task(R)
    st.markdown(t("learn.metrics.curve", values=", ".join(_fmt(v) for v in curve)))
    st.caption(t("learn.metrics.sources"))


def cls_section() -> None:
    st.header(t("learn.cls.heading"), anchor="cls")
    st.markdown(t("learn.cls.body"))
    links = {
        name: card_link(name) if name in STRATEGIES else t(f"strategy.{name}.title") for name in ("clser", "dualnet")
    }
    st.markdown(t("learn.cls.methods", clser=links["clser"], dualnet=links["dualnet"]))


def families_section(groups: dict[str, list[str]]) -> None:
    st.header(t("learn.families.heading"), anchor="families")
    st.markdown(t("learn.families.intro"))
    for family, names in groups.items():
        st.markdown(
            f"**[{t(f'family.{family}.title')}](#family-{family})**: {t(f'family.{family}.summary')}"
            f"  \n{' · '.join(card_link(name) for name in names)}"
        )


def _bullets(lines: list[str]) -> str:
    return "\n".join(f"- {line}" for line in lines)


def expectations_section(name: str) -> None:
    """What the method's recommended runs gave beside fine-tune (once measured), and where its effect does not
    show (pages/shared/expectations.py), including task-free streams when it works at task boundaries."""
    measured, caveats = expectations.card_results(name), expectations.card_caveats(name)
    reason, title = STRATEGIES[name].needs_boundaries, t(f"strategy_ui.{name}.title")
    streams = [benchmark for benchmark, info in BENCHMARKS.items() if info.kind == "stream"] if reason else []
    stream_notes = [t(f"expect.boundary.{reason}", strategy=title, benchmark=b, percent="") for b in streams]
    if measured:
        st.markdown(f"**{t('expect.card.heading')}**")
        st.markdown(f"{t('expect.card.intro')}\n\n{_bullets(measured)}")
    if caveats or stream_notes:
        st.markdown(f"**{t('expect.card.caveats')}**")
    for lines in (caveats, stream_notes):
        if lines:
            st.markdown(_bullets(lines))


def strategy_card(name: str) -> None:
    cls, card = STRATEGIES[name], CARDS[name]
    with st.container(border=True, key=f"learn_card_{name}"):
        st.subheader(t(f"strategy.{name}.title"), anchor=card_anchor(name))
        st.caption(t("card.engine_name", name=name))
        st.markdown(t(f"strategy.{name}.idea"))
        st.markdown(f"**{t('card.rule')}**")
        st.latex(card.rule)
        st.markdown(t(f"strategy.{name}.rule"))
        needs, strengths, limits = st.columns(3)
        with needs:
            st.markdown(f"**{t('card.needs')}**")
            st.markdown(
                _bullets(
                    [
                        t("card.buffer_yes" if cls.uses_buffer else "card.buffer_no"),
                        t("card.task_id_yes" if cls.needs_task_id else "card.task_id_no"),
                        t(f"strategy.{name}.needs"),
                    ]
                )
            )
        with strengths:
            st.markdown(f"**{t('card.strengths')}**")
            st.markdown(t(f"strategy.{name}.strengths"))
        with limits:
            st.markdown(f"**{t('card.limits')}**")
            st.markdown(t(f"strategy.{name}.limits"))
        expectations_section(name)
        st.caption(t("card.reference", reference=card.reference))
        with st.container(horizontal=True, vertical_alignment="center"):
            st.button(
                t("card.try_it"),
                key=f"learn_try_{name}",
                icon=":material/play_circle:",
                help=t("card.try_it_help"),
                on_click=_on_try,
                args=(name,),
            )
            st.caption(t(f"strategy.{name}.try"))


def page() -> None:
    session.run_through_app()
    follow_try_it()
    i18n.language_switch()
    groups = families()
    st.title(t("learn.title"))
    st.markdown(t("learn.intro"))
    st.markdown(t("learn.contents"))
    forgetting_section()
    scenarios_section()
    metrics_section()
    cls_section()
    families_section(groups)
    st.header(t("learn.cards.heading"), anchor="cards")
    st.markdown(t("learn.cards.intro"))
    for family, names in groups.items():
        st.header(t(f"family.{family}.title"), anchor=f"family-{family}", divider="gray")
        st.markdown(t(f"family.{family}.summary"))
        for name in names:
            if name in CARDS:
                strategy_card(name)
            else:  # a strategy registered after this page was written: said, not hidden
                st.warning(t("card.missing", name=name), icon=":material/construction:")


if __name__ == "__main__":  # Streamlit runs pages as __main__; tests import CARDS without drawing
    page()
