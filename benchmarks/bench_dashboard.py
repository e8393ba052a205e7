"""Benchmark of the dashboard's latencies: upload to ranked species, upload to ranked match.

Measured on a run folder (default ``outputs/quick`` when its ``run.yaml`` exists; pass
``--run-dir`` for another, e.g. a smoke run), through the dashboard's own panels driven by
widget values, exactly as an upload in the browser drives them (minus the browser):

1. Cold start: building the app (the page is usable), then loading the model (TensorFlow) and
   the matching library (volumes and cached indexes) in the background.
2. Time to first prediction: one 224-px slice (a test slice of the run, resized) uploaded to the
   classification panel with ``--model`` (default small_cnn): reading, segmentation, prediction,
   Grad-CAM and every view. Baseline: the bare ``model.predict`` of the same model input.
   Target: under 1 s.
3. Time to first match: one slice uploaded to the matching panel, searched in the library
   (cached indexes), ranked and drawn in 3-D. Baseline: the bare
   ``fossilct.matching.match_slice_to_library`` call on the same image. Target: under 5 s on
   the quick profile's 24-volume library.

Ratios (dashboard / baseline) are what to compare between machines; seconds are noisy.

    python benchmarks/bench_dashboard.py [--run-dir outputs/quick] [--model small_cnn]
                                         [--repeats 5]
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from fossilct import matching, results
from fossilct.dashboard import build_app

ROOT = Path(__file__).resolve().parents[1]


def _upload_value(name: str, data: bytes) -> tuple:
    return ({"name": name, "type": "image/png", "size": len(data), "content": memoryview(data),
             "last_modified": datetime.datetime.now()},)


def _default_run() -> Path:
    quick = ROOT / "outputs" / "quick"
    if not (quick / "run.yaml").is_file():
        sys.exit("outputs/quick/run.yaml does not exist: make the quick run (`make run`) or "
                 "pass --run-dir <a run folder>, e.g. a smoke run.")
    return quick


def _row(name: str, seconds: float, baseline: float | None = None, target: str = "") -> None:
    ratio = f"{seconds / baseline:8.1f}x" if baseline else ""
    print(f"  {name:44s} {seconds:8.3f} s {ratio:>9s}  {target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, default=None)
    parser.add_argument("--model", default="small_cnn")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    run = results.load_run(args.run_dir or _default_run())
    print(f"run {run.run_dir} (profile {run.profile})")

    start = time.perf_counter()
    app = build_app(run, start=False)
    build_s = time.perf_counter() - start
    panel, match_panel = app.classification, app.matching
    panel.model.value = next(label for label in panel.model.options if label == args.model)
    start = time.perf_counter()
    job = panel.load_model()
    if job is not None:
        job.join()
    model_s = time.perf_counter() - start
    start = time.perf_counter()
    match_panel.start_library().join()
    library_s = time.perf_counter() - start

    test = run.slices[run.slices["split"] == "test"].iloc[0]
    slice_224 = cv2.resize(cv2.imread(str(test["path"]), cv2.IMREAD_GRAYSCALE), (224, 224),
                           interpolation=cv2.INTER_LINEAR)
    png = cv2.imencode(".png", slice_224)[1].tobytes()

    def classify_once(k: int) -> float:
        begin = time.perf_counter()
        panel.upload.value = _upload_value(f"slice_{k}.png", png)
        elapsed = time.perf_counter() - begin
        assert panel.predictions[-1].segmentable, panel.predictions[-1].message
        panel.clear.click()
        return elapsed

    first_prediction = classify_once(0)
    warm_prediction = statistics.median(classify_once(k) for k in range(1, args.repeats + 1))
    model = panel.classifier.model
    x = cv2.resize(slice_224, (panel.classifier.image_size,) * 2)[None, :, :, None]
    bare_predict = statistics.median(
        _timed(lambda: model.predict(x.astype(np.float32), verbose=0))
        for _ in range(args.repeats))

    def match_once(k: int) -> float:
        begin = time.perf_counter()
        match_panel.query_upload.value = _upload_value(f"query_{k}.png", png)
        match_panel._job.join()
        elapsed = time.perf_counter() - begin
        assert match_panel.search is not None and "Best match" in match_panel.message.value, \
            match_panel.message.value
        return elapsed

    first_match = match_once(0)
    warm_match = statistics.median(match_once(k) for k in range(1, args.repeats + 1))
    bare_match = statistics.median(
        _timed(lambda: matching.match_slice_to_library(slice_224, match_panel.library,
                                                       **match_panel._options))
        for _ in range(args.repeats))

    print(f"\ncold start ({len(match_panel.library)} library volumes)")
    _row("build the app (page usable)", build_s, target="target: page usable < 20 s")
    _row(f"load model {args.model} (background)", model_s)
    _row("load the matching library (background)", library_s)
    print("\nclassification: one 224-px slice, upload to ranked species  (ratio: vs bare predict)")
    _row("bare model.predict (baseline)", bare_predict)
    _row("first upload", first_prediction, bare_predict, "target < 1 s")
    _row(f"next uploads (median of {args.repeats})", warm_prediction, bare_predict)
    print("\nmatching: one slice, upload to ranked match and 3-D view  (ratio: vs bare search)")
    _row("bare match_slice_to_library (baseline)", bare_match)
    _row("first upload", first_match, bare_match, "target < 5 s (24-volume quick library)")
    _row(f"next uploads (median of {args.repeats})", warm_match, bare_match)


def _timed(call) -> float:
    begin = time.perf_counter()
    call()
    return time.perf_counter() - begin


if __name__ == "__main__":
    main()
