"""User-facing errors: each carries one sentence a person can act on.

Every entry point (CLI, app pages) catches `VitdemoError` and shows `str(err)`;
anything else is a bug and is reported as such, never as a traceback to a user.
"""


class VitdemoError(Exception):
    """Base class: `str(err)` is one line meant for a person, not a developer."""


class BadImageError(VitdemoError):
    """The input is not an image we can use (empty, corrupt, a bomb, not an image at all).

    Args:
        reason: what is wrong, phrased to follow the image's name ("is empty (0 bytes)").
        name: the image as the user knows it (path, upload name); `str(err)` is "name: reason".
    """

    def __init__(self, reason: str, name: str | None = None):
        self.reason = reason
        self.name = name
        super().__init__(f"{name}: {reason}" if name else reason)


class ModelNotAvailableError(VitdemoError):
    """The model spec is valid but its weights are not here and cannot be downloaded now."""


class ModelSpecError(VitdemoError):
    """The model spec itself makes no sense (unknown architecture, not a ViT/ResNet, bad path)."""


class UnsafeArchiveError(VitdemoError):
    """An archive tries to write outside its target, holds links, or expands too far."""


class DatasetError(VitdemoError):
    """A training dataset cannot be used (fewer than 2 classes, empty classes, no images)."""


def one_line(err: BaseException, limit: int = 200) -> str:
    """A library exception squeezed into one short line, to quote inside a user-facing message."""
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
