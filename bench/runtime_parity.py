"""Does running the networks in onnxruntime change the product's masks? The default model on both dev sets, with
its networks in onnxruntime (the CPU default) and in PyTorch, side by side.

    python -m bench.runtime_parity              # every photo of both dev sets
    python -m bench.runtime_parity --limit 40

Per photo: the default model's network output and the refined mask as the product makes them, once per runtime;
IoU against the set's mask for each; the largest alpha difference. Reports, per set: the mean IoU of each, their
difference, the largest per-photo IoU change, the largest alpha change and how many photos the combination's
decision changed for. Writes bench/results/runtime-parity.md.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np

import core.segmentation as segmentation
from bench.common import add_data_options, add_output_options, list_stems, load_sample, loadavg, revision, shown
from core.combine import CombinedSegmenter
from core.pipeline import alpha_from_prediction
from core.refine import RefineSettings
from core.weights import DEFAULT_MODEL, REGISTRY


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.runtime_parity", description=__doc__.splitlines()[0])
    add_data_options(parser, several=True)
    add_output_options(parser)
    args = parser.parse_args(argv)
    fast = segmentation.get_segmenter(DEFAULT_MODEL, "cpu")
    segmentation.CPU_ONNXRUNTIME = False  # read when a Segmenter is made: the same files, run by PyTorch
    members = [segmentation.Segmenter(member.weights, member.device) for member in fast.members.values()]
    segmentation.CPU_ONNXRUNTIME = True
    reference = CombinedSegmenter(REGISTRY[DEFAULT_MODEL], members)
    settings = RefineSettings.for_model(REGISTRY[DEFAULT_MODEL])
    lines = [
        "# The default model in onnxruntime and in PyTorch", "",
        f"`python -m bench.runtime_parity{' --limit ' + str(args.limit) if args.limit else ''}` at {revision()} "
        f"(load average {loadavg()}); `{DEFAULT_MODEL}` with its refinement; IoU of alpha > 0.5 against each set's mask.", "",
        "| set | photos | IoU onnxruntime | IoU PyTorch | difference | largest per-photo IoU change | largest alpha change | decisions changed |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for data in args.data:
        ious: dict[str, list[float]] = {"ort": [], "torch": []}
        alpha_change, decisions = 0.0, 0
        for stem in list_stems(data, args.limit):
            sample = load_sample(data, stem)
            alphas, chosen = [], []
            for name, segmenter in (("ort", fast), ("torch", reference)):
                output = segmenter.run(segmenter.prepare(sample.rgb), sample.rgb.shape[:2])
                _, alpha = alpha_from_prediction(output.prediction, sample.rgb.shape[:2], settings, image=sample.rgb)
                cut = alpha > 0.5
                ious[name].append(float((cut & sample.mask).sum() / max((cut | sample.mask).sum(), 1)))
                alphas.append(alpha)
                chosen.append(output.decision.chosen)
            alpha_change = max(alpha_change, float(np.abs(alphas[0] - alphas[1]).max()))
            decisions += chosen[0] != chosen[1]
        mean = {name: statistics.fmean(values) for name, values in ious.items()}
        worst = max(abs(a - b) for a, b in zip(ious["ort"], ious["torch"]))
        lines.append(f"| {Path(data).name} | {len(ious['ort'])} | {mean['ort']:.5f} | {mean['torch']:.5f} | "
                     f"{mean['ort'] - mean['torch']:+.6f} | {worst:.6f} | {alpha_change:.4f} | {decisions} |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "runtime-parity.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {shown(args.out / 'runtime-parity.md')}")


if __name__ == "__main__":
    main()
