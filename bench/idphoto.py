"""How often does a photo make an ID photo, and why not? Face detection and the passport preset on both dev sets.

    python -m bench.idphoto                 # both dev sets
    python -m bench.idphoto --limit 20      # a quick look

Per photo: BlazeFace's faces at the default score threshold (core.faces) and its time, then the passport preset
(35x45 mm at 300 DPI, core.idphoto) placed with the dev set's own mask as the matte (hand-labelled portraits;
remove.bg's masks for the scenes), so that what is counted is the face and the photo's geometry, not the network's
cut. Reports, per set: photos with no face, one, several; passport photos made, and the refusals by reason.
Writes bench/results/idphoto.md and idphoto.csv.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from pathlib import Path

from bench.common import add_data_options, add_output_options, list_stems, load_sample, loadavg, revision, shown
from core.faces import MIN_SCORE, detect_faces
from core.id_presets import ID_PRESETS
from core.idphoto import IdPhotoError, id_layout

PRESET = "passport-35x45"
DPI = 300.0
#: Words of each refusal in core.idphoto, and the reason they are counted under.
REASONS = {
    "No face found": "no face", "faces:": "several faces", "top of the head is cut": "crown cut by the photo",
    "head is": "head too small", "does not cover the head": "mask misses the head", "would be cut": "head cut by the frame",
    "shoulders": "photo ends above the shoulders",
}


def reason_of(message: str) -> str:
    return next((reason for words, reason in REASONS.items() if words in message), "other")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.idphoto", description=__doc__.splitlines()[0])
    add_data_options(parser, several=True)
    add_output_options(parser)
    args = parser.parse_args(argv)
    rows = []
    for data in args.data:
        for stem in list_stems(data, args.limit):
            sample = load_sample(data, stem)
            start = time.perf_counter()
            faces = detect_faces(sample.rgb)
            seconds = time.perf_counter() - start
            try:
                layout = id_layout(sample.rgb, sample.mask.astype("float32"), ID_PRESETS[PRESET], DPI)
                outcome, detail = "made", f"enlarged {layout.placement.scale:.2f}x"
            except IdPhotoError as exc:
                outcome, detail = reason_of(str(exc)), str(exc)
            rows.append({"set": Path(data).name, "photo": stem, "faces": len(faces), "detect_ms": f"{seconds * 1000:.1f}",
                         "outcome": outcome, "detail": detail})
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "idphoto.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    lines = [
        "# ID photos on the dev sets", "",
        f"`python -m bench.idphoto{' --limit ' + str(args.limit) if args.limit else ''}` at {revision()} "
        f"(load average {loadavg()}). Faces: BlazeFace at score >= {MIN_SCORE}; the {PRESET} preset at {DPI:g} DPI "
        f"placed with each set's own mask as the matte.", "",
        "| set | photos | no face | one face | several | passport made | refused: reasons | detect ms (median) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in dict.fromkeys(row["set"] for row in rows):
        mine = [row for row in rows if row["set"] == name]
        counts = {n: sum(row["faces"] == n for row in mine) for n in (0, 1)}
        refused: dict[str, int] = {}
        for row in mine:
            if row["outcome"] != "made":
                refused[row["outcome"]] = refused.get(row["outcome"], 0) + 1
        reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(refused.items(), key=lambda kv: -kv[1])) or "none"
        made = sum(row["outcome"] == "made" for row in mine)
        median = statistics.median(float(row["detect_ms"]) for row in mine)
        lines.append(f"| {name} | {len(mine)} | {counts[0]} | {counts[1]} | {len(mine) - counts[0] - counts[1]} | "
                     f"{made} | {reasons} | {median:.1f} |")
    (args.out / "idphoto.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {shown(args.out / 'idphoto.md')} and idphoto.csv")


if __name__ == "__main__":
    main()
