"""How a model wants its input: the facts from its config, applied by the model's own library.

timm models (and our bundled and fine-tuned ones, which are timm networks) go through timm's eval
transform for their data config (`timm.data.create_transform`); Hugging Face models through the
repository's image processor. So a pretrained model sees exactly the tensor its library would give
it, down to where a resize rounds. The only thing added here is a split of each pipeline into its
geometric part (the uint8 image the network sees, on which maps and overlays are drawn) and its
value part (to tensor + normalise); applied one after the other they are the library's pipeline.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image

CROP_MODES = ("center", "squash", "border")  # timm's eval crop modes


@dataclass(frozen=True)
class Preprocessing:
    """The preprocessing facts of one model, and the library pipeline that applies them.

    Attributes:
        input_size: (H, W) of the network input.
        mean, std: per-channel normalisation.
        interpolation: resize filter ("bicubic", "bilinear", ...).
        crop_pct: share of the resized short side kept by the centre crop (1.0: no crop).
        crop_mode: "center" (resize the short side, centre-crop), "squash" (resize both sides, no
            aspect kept) or "border" (fit the long side, pad) as in timm.
        processor: a Hugging Face image processor; None means timm's eval transform for these facts.
    """

    input_size: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bicubic"
    crop_pct: float = 1.0
    crop_mode: str = "center"
    processor: Any = field(default=None, compare=False, repr=False)

    def view(self, image: Image.Image) -> np.ndarray:
        """The image exactly as the network sees it, before normalisation: uint8 (H, W, 3).

        Maps and overlays are drawn on this view, so they line up with the patches.
        """
        return self._pipeline().view(image.convert("RGB"))

    def normalise(self, view: np.ndarray) -> torch.Tensor:
        """uint8 (H, W, 3) view → float tensor (3, H, W), normalised as the library does it."""
        return self._pipeline().normalise(np.ascontiguousarray(view, dtype=np.uint8))

    def to_tensor(self, image: Image.Image) -> torch.Tensor:
        """PIL image → normalised (3, H, W) tensor, ready to batch: the library pipeline's output."""
        return self.normalise(self.view(image))

    def timm_config(self) -> dict[str, Any]:
        """These facts as a timm data config (the keyword arguments of `create_transform`)."""
        return {
            "input_size": (3, *self.input_size),
            "interpolation": self.interpolation,
            "mean": tuple(self.mean),
            "std": tuple(self.std),
            "crop_pct": self.crop_pct,
            "crop_mode": self.crop_mode,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_size": list(self.input_size),
            "mean": list(self.mean),
            "std": list(self.std),
            "interpolation": self.interpolation,
            "crop_pct": self.crop_pct,
            "crop_mode": self.crop_mode,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocessing:
        size = d["input_size"]
        size = tuple(size[-2:]) if isinstance(size, list | tuple) else (int(size), int(size))
        return cls(
            input_size=(int(size[0]), int(size[1])),
            mean=tuple(float(v) for v in d["mean"]),
            std=tuple(float(v) for v in d["std"]),
            interpolation=d.get("interpolation", "bicubic"),
            crop_pct=float(d.get("crop_pct", 1.0)),
            crop_mode=d.get("crop_mode", "center"),
        )

    def _pipeline(self) -> TimmEvalPipeline | HfProcessorPipeline:
        if self.processor is not None:
            return HfProcessorPipeline(self.processor)
        return _timm_pipeline(
            self.input_size,
            self.interpolation,
            tuple(self.mean),
            tuple(self.std),
            self.crop_pct,
            self.crop_mode,
        )


class TimmEvalPipeline:
    """timm's eval transform, split where it turns the PIL image into a tensor."""

    def __init__(self, transform: Any) -> None:
        from timm.data.transforms import MaybeToTensor, ToTensor
        from torchvision import transforms

        steps = list(transform.transforms)
        to_tensor_types = (MaybeToTensor, ToTensor, transforms.ToTensor)
        split = next(i for i, step in enumerate(steps) if isinstance(step, to_tensor_types))
        self._geometry = transforms.Compose(steps[:split])  # resize, crop: PIL → PIL
        self._values = transforms.Compose(steps[split:])  # to tensor, normalise: PIL → (3, H, W)

    def view(self, image: Image.Image) -> np.ndarray:
        return np.asarray(self._geometry(image))  # (H, W, 3) uint8

    def normalise(self, view: np.ndarray) -> torch.Tensor:
        return self._values(Image.fromarray(view))  # (3, H, W) float32


class HfProcessorPipeline:
    """A Hugging Face image processor, run once without and once with its value steps.

    The processor resizes and crops uint8 pixels, so its uint8 view followed by its rescale and
    normalise (resize and crop switched off) is the tensor it gives for the photo in one call.
    """

    def __init__(self, processor: Any) -> None:
        self._processor = processor

    def view(self, image: Image.Image) -> np.ndarray:
        pixels = self._processor(
            image, do_rescale=False, do_normalize=False, return_tensors="pt"
        ).pixel_values
        return pixels[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()  # (H, W, 3)

    def normalise(self, view: np.ndarray) -> torch.Tensor:
        chw = torch.from_numpy(view).permute(2, 0, 1)  # (3, H, W) uint8
        out = self._processor(chw, do_resize=False, do_center_crop=False, return_tensors="pt")
        return out.pixel_values[0].float()  # (3, H, W)


@functools.lru_cache(maxsize=32)  # one transform per distinct config, shared by every thread (stateless)
def _timm_pipeline(
    input_size: tuple[int, int],
    interpolation: str,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    crop_pct: float,
    crop_mode: str,
) -> TimmEvalPipeline:
    from timm.data import create_transform

    transform = create_transform(
        input_size=(3, *input_size),
        is_training=False,
        interpolation=interpolation,
        mean=mean,
        std=std,
        crop_pct=crop_pct,
        crop_mode=crop_mode,
    )
    return TimmEvalPipeline(transform)
