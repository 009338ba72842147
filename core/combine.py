"""The default model: a portrait network and U²-Net together, each trusted where the benchmark found it stronger.

MODNet (a portrait-matting network) keeps the whole person where U²-Net drops a shoulder, the clothes or the
feet, and leaves out the objects a salient-object network grabs beside the person (a sign board, a pram);
but on some photos it fails: people small in the picture, crowds, unusual poses. It then fails
inconsistently: its matte of the mirrored photo, flipped back, no longer agrees with its matte of the photo.
So the combination runs MODNet on the photo and on its mirror, the mirror at a smaller scale (the mean of the
two is its matte anyway: two scales make a better one than two passes at one scale), and trusts it when the
two views agree; otherwise it runs U²-Net and uses its mask. The rule and the numbers that
chose it are in the README ("Choosing the network"). `CombinedSegmenter` serves the pair through the same
interface as one `Segmenter`, so the pipeline, the command line and the dashboard need no model-specific
branches, and U²-Net runs only on the photos where MODNet is not trusted.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from core.errors import SettingsError
from core.segmentation import Device, InferenceSettings, Segmenter, resize_prediction
from core.weights import ModelSpec

#: MODNet is trusted when its two views disagree (one says subject, the other background, at alpha 0.5) on at
#: most this fraction of the subject's area. Chosen on both dev sets together with the views at 384 and 320 px:
#: 0.08–0.16 score within 0.0011 IoU on the portraits and 0.004 on the scenes, 0.16 best on both; 0.18 loses a
#: scene and 0.20 the scenes' worst tenth. Two scales' edges differ a little more than one scale's did (it was 0.10).
MAX_DISAGREEMENT = 0.16
#: Pixels at or above this alpha count as subject.
SUBJECT_ALPHA = 0.5


@dataclass(frozen=True)
class Decision:
    """Which network's output the combination keeps for one photo, and why (in words for the Inspector)."""

    chosen: str
    disagreement: float  # fraction of the subject's area where MODNet's two views disagree (inf: no subject)
    subject_area: float  # fraction of the frame MODNet's matte calls subject, in [0, 1]
    reason: str


def disagreement(view: np.ndarray, mirrored: np.ndarray) -> tuple[float, float]:
    """view, mirrored: float32 h×w in [0, 1], a network's output and its mirrored pass flipped back →
    (pixels where one is subject and the other not / mean subject pixels of the two (inf if none),
    subject area of their mean as a fraction of the frame)."""
    a, b = view >= SUBJECT_ALPHA, mirrored >= SUBJECT_ALPHA
    subject = (np.count_nonzero(a) + np.count_nonzero(b)) / 2
    joined = (view + mirrored) * np.float32(0.5) >= SUBJECT_ALPHA
    area = float(np.count_nonzero(joined)) / joined.size
    if subject == 0 or area == 0:
        return float("inf"), area
    return float(np.count_nonzero(a ^ b) / subject), area


def decide(views: list[np.ndarray], portrait_name: str = "modnet", salient_name: str = "u2netp") -> Decision:
    """The portrait network's two views of one photo (float32 h×w in [0, 1]) → the Decision for that photo."""
    if len(views) != 2:
        raise SettingsError(f"The combination needs {portrait_name}'s mirrored pass: its network input must keep flip on.")
    share, area = disagreement(views[0], views[1])
    if share <= MAX_DISAGREEMENT:
        return Decision(portrait_name, share, area, (
            f"The portrait network ({portrait_name}) gives about the same matte for the photo and its mirror image "
            f"(they differ on {share:.1%} of the person, at most {MAX_DISAGREEMENT:.0%} allowed), so its matte "
            f"is used: it keeps shoulders, clothes and hair whole."
        ))
    if area == 0:
        why = "finds no person"
    else:
        why = f"gives different mattes for the photo and its mirror image ({share:.0%} of the person differs)"
    return Decision(salient_name, share, area, (
        f"The portrait network ({portrait_name}) {why}, so it is unsure here (people small in the picture, a "
        f"crowd, an unusual pose): {salient_name}'s mask is used."
    ))


@dataclass
class CombinedOutput:
    """One photo through the combination: the output kept, each member's output that ran, and the Decision."""

    prediction: np.ndarray  # float32 h×w in [0, 1]: the chosen member's output, unchanged
    parts: dict[str, np.ndarray] = field(default_factory=dict)  # member name → its output (float32 h×w in [0, 1])
    decision: Decision | None = None


class MemberInputs(Mapping[str, np.ndarray]):
    """Each member's network input (float32 1×3×h×w) for one photo, by member name, each prepared on first use:
    the salient member's input is never made for a photo the portrait member is trusted on."""

    def __init__(self, image: np.ndarray, members: Mapping[str, Segmenter]) -> None:
        self._image, self._members, self._inputs = image, members, {}

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._inputs:
            self._inputs[name] = self._members[name].prepare(self._image)
        return self._inputs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._members)

    def __len__(self) -> int:
        return len(self._members)


class CombinedSegmenter:
    """A registry combination (e.g. 'auto') served like one Segmenter: a portrait member, trusted when its
    mirrored views agree (`decide`), and a salient member run only when it is not.

    The members run with the network input measured best for each (their registry entries), so the
    combination takes no InferenceSettings of its own and `settings` arguments must be None.
    """

    def __init__(self, spec: ModelSpec, members: list[Segmenter]) -> None:
        self.spec = spec
        self.members = {member.spec.name: member for member in members}
        self.portrait, self.salient = members[0], members[1]

    @property
    def device(self) -> Device:
        return self.portrait.device

    @property
    def parameters(self) -> int:
        return sum(member.parameters for member in self.members.values())

    @property
    def runtime(self) -> str:
        """What runs the members (core.segmentation.Segmenter.runtime), e.g. 'onnxruntime'."""
        return ", ".join(dict.fromkeys(member.runtime for member in self.members.values()))

    @property
    def paths(self) -> list[str]:
        """Each member's weights file."""
        return [str(member.weights.path) for member in self.members.values()]

    def settings(self, settings: InferenceSettings | None = None) -> None:
        """The combination has no network-input settings of its own (each member uses its registry entry's)."""
        if settings is not None:
            raise SettingsError(
                f"'{self.spec.name}' runs each network with its own measured network input; "
                f"choose one network to change the network input."
            )

    def prepare(self, image: np.ndarray, settings: InferenceSettings | None = None) -> MemberInputs:
        """image: uint8 HxWx3 RGB → each member's network input, by member name: the portrait member's now, the
        salient member's when `run` first needs it."""
        self.settings(settings)
        inputs = MemberInputs(image, self.members)
        inputs[self.portrait.spec.name]  # made now: every photo needs it, and callers time this stage
        return inputs

    def run(self, batches: Mapping[str, np.ndarray], shape: tuple[int, int]) -> CombinedOutput:
        """Member inputs from `prepare` for an HxW photo → the CombinedOutput (the salient member runs only
        when the portrait member is not trusted)."""
        portrait = self.portrait.spec.name
        views = self.portrait.infer_views(batches[portrait], shape)
        decision = decide(views, portrait, self.salient.spec.name)
        parts = {portrait: self.portrait.join_views(views)}
        if decision.chosen != portrait:
            parts[decision.chosen] = self.salient.infer(batches[decision.chosen], shape)
        return CombinedOutput(parts[decision.chosen], parts, decision)

    def infer(self, batches: Mapping[str, np.ndarray], shape: tuple[int, int], settings: InferenceSettings | None = None) -> np.ndarray:
        """Member inputs from `prepare` for an HxW photo → the combined output, float32 h×w in [0, 1]."""
        self.settings(settings)
        return self.run(batches, shape).prediction

    def predict(self, image: np.ndarray, settings: InferenceSettings | None = None) -> np.ndarray:
        """image: uint8 HxWx3 RGB → the combined output at network resolution, float32 h×w in [0, 1]."""
        return self.infer(self.prepare(image, settings), image.shape[:2], settings)

    def segment(self, image: np.ndarray, settings: InferenceSettings | None = None) -> np.ndarray:
        """image: uint8 HxWx3 RGB → alpha float32 HxW in [0, 1] (raw combined mask, no refinement)."""
        return resize_prediction(self.predict(image, settings), image.shape[:2])
