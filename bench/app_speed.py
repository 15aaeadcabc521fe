"""The app's responsiveness and training speed, measured in a real browser against the CLI.

    python -m bench.app_speed [--reps 3] [--subset 4000] [--out bench/results/app-speed.json]

For each repetition, the same configuration (ER, buffer 200, Split-MNIST, `--subset` examples per task,
every other setting at its default) is trained twice, back to back:
- by the CLI (`python -m clcore run ...`), in its own process;
- by the app: `streamlit run app.py` with Chromium (Playwright) opening the Playground with the settings
  in its URL and pressing Play. The page's DOM is sampled every 50 ms to time the first status-line
  update and the first chart update after Play (a forgetting-curve point past step 0), and the interval
  between successive redraws of the step counter and of the charts while it trains.
Training throughput is the run's own `train_samples_per_s` (samples over time inside training steps) and
its wall time (Play to the end, including live evaluations); both come from the app's run store and the
CLI's JSON. Ratios are app / CLI within each repetition, as the machine's load varies between them.
The browser shares this machine's cores with the server here; on a lecture hall's laptops it does not.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from clcore.runs.store import RunStore
from tests.e2e_support import ROOT, app_server, chromium

from ._common import RESULTS_DIR, environment, write_json

STRATEGY, BUFFER = "er", 200
POLL_S = 0.05

READ_PAGE = """() => {
    const status = document.querySelector('.st-key-pg_status');
    const curves = document.querySelector('.st-key-pg_curves .js-plotly-plot');
    const xs = curves && curves.data && curves.data[0] ? curves.data[0].x || [] : [];
    return {status: status ? status.innerText : '', points: xs.length, last_x: xs.length ? xs[xs.length - 1] : null};
}"""


def cli_run(subset: int, out: Path) -> dict:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "clcore",
            "run",
            "--strategy",
            STRATEGY,
            "--buffer",
            str(BUFFER),
            "--train-subset",
            str(subset),
            "--seed",
            "0",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.read_text())


def _intervals(times: list[float]) -> dict:
    gaps = [b - a for a, b in zip(times, times[1:])]
    if not gaps:
        return {"n": 0}
    return {
        "n": len(gaps),
        "median_s": statistics.median(gaps),
        "p90_s": sorted(gaps)[int(0.9 * (len(gaps) - 1))],
        "max_s": max(gaps),
    }


def app_run(browser, url: str, store_path: Path, subset: int) -> dict:
    workspace = uuid.uuid4().hex[:16]
    page = browser.new_page(viewport={"width": 1500, "height": 1300})
    try:
        page.goto(
            f"{url}/?ws={workspace}&strategy={STRATEGY}&buffer={BUFFER}&subset={subset}&seed=0",
            wait_until="domcontentloaded",
        )
        play = page.locator(".st-key-pg_play button").first
        play.wait_for(timeout=60_000)
        page.wait_for_timeout(1000)  # let the page settle: the URL's settings are in the controls
        play.click()
        pressed = time.perf_counter()
        first_status = first_chart = None
        status_changes, chart_changes = [], []
        last = {"status": None, "points": None}
        while True:
            now = time.perf_counter()
            seen = page.evaluate(READ_PAGE)
            if seen["status"] != last["status"] and "step" in seen["status"]:
                status_changes.append(now)
                if first_status is None and "step 0 " not in seen["status"]:
                    first_status = now - pressed
            if seen["points"] != last["points"]:
                chart_changes.append(now)
                if first_chart is None and (seen["last_x"] or 0) > 0:
                    first_chart = now - pressed
            last = seen
            if "finished" in seen["status"]:
                break
            if now - pressed > 600:
                raise RuntimeError("the app's run did not finish within 10 minutes")
            time.sleep(POLL_S)
        finished_after = time.perf_counter() - pressed
    finally:
        page.close()
    store = RunStore(store_path)
    summary = store.list_summaries(workspace)[0]
    result = store.get(summary.id, workspace).result
    return {
        "result": result,
        "play_to_first_status_s": first_status,
        "play_to_first_chart_s": first_chart,
        "status_redraw": _intervals(status_changes),
        "chart_redraw": _intervals(chart_changes),
        "play_to_finished_in_browser_s": finished_after,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--subset", type=int, default=4000, help="training examples per task")
    parser.add_argument("--out", default=str(RESULTS_DIR / "app-speed.json"))
    args = parser.parse_args(argv)
    reps = []
    with tempfile.TemporaryDirectory() as tmp, chromium() as browser:
        store_path = Path(tmp) / "runs.sqlite"
        with app_server(store_path, Path(tmp) / "server.log") as url:
            for rep in range(args.reps):
                load_before = os.getloadavg()[0]
                cli = cli_run(args.subset, Path(tmp) / f"cli{rep}.json")
                app = app_run(browser, url, store_path, args.subset)
                result = app.pop("result")
                same = {k: v for k, v in result["config"].items() if k != "device"} == {
                    k: v for k, v in cli["config"].items() if k != "device"
                }
                if not same:
                    raise RuntimeError(f"configs differ: app {result['config']} vs CLI {cli['config']}")
                row = {
                    "rep": rep,
                    "load_avg_1min": load_before,
                    **app,
                    "cli": {k: cli[k] for k in ("train_samples_per_s", "wall_s", "avg_acc")},
                    "app": {k: result[k] for k in ("train_samples_per_s", "wall_s", "avg_acc")},
                }
                row["throughput_ratio"] = row["app"]["train_samples_per_s"] / row["cli"]["train_samples_per_s"]
                row["wall_ratio_cli_over_app"] = row["cli"]["wall_s"] / row["app"]["wall_s"]
                reps.append(row)
                print(
                    f"rep {rep}: app/CLI train samples/s {row['throughput_ratio']:.2f}, CLI/app wall "
                    f"{row['wall_ratio_cli_over_app']:.2f}; "
                    f"Play -> first status {app['play_to_first_status_s']:.2f} s, "
                    f"first chart {app['play_to_first_chart_s']:.2f} s; redraw median status "
                    f"{app['status_redraw'].get('median_s', float('nan')):.2f} s, charts "
                    f"{app['chart_redraw'].get('median_s', float('nan')):.2f} s",
                    flush=True,
                )
    config = {"strategy": STRATEGY, "buffer_size": BUFFER, "train_subset": args.subset, "seed": 0}
    write_json(
        Path(args.out),
        {"config": config, "environment": environment(0), "reps": reps, "measured_at": time.strftime("%Y-%m-%d %H:%M")},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
