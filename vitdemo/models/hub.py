"""Files from the Hugging Face Hub: the local cache first, a download only when one can work.

Loading never waits on a network that is not there: a file already in the standard HF cache is
used without any request; a missing file is downloaded only when the hub is reachable, and
otherwise the caller gets a `ModelNotAvailableError` saying how to fetch it. Everything lands in
the standard cache (`HF_HUB_CACHE`, `~/.cache/huggingface/hub` by default), so a teacher can run
`python -m vitdemo fetch SPEC` once before class.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlparse

from huggingface_hub import constants, hf_hub_download, try_to_load_from_cache
from huggingface_hub.errors import (
    GatedRepoError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from vitdemo.errors import ModelNotAvailableError, ModelSpecError
from vitdemo.models.specs import BUNDLED_SPECS

OFFLINE_MODELS = ", ".join([*BUNDLED_SPECS, "any model directory", "any non-hf: spec with @random"])
_REACHABLE_TTL_S = 60.0  # how long one reachability probe is trusted
_reachability: dict[str, tuple[float, bool]] = {}


def cache_dir() -> Path:
    """The Hugging Face hub cache in use (read at call time, so HF_HUB_CACHE changes apply)."""
    return Path(constants.HF_HUB_CACHE)


def hub_offline() -> bool:
    """True when the user switched the hub off (HF_HUB_OFFLINE=1)."""
    return bool(constants.HF_HUB_OFFLINE)


def not_available(spec_text: str, why: str) -> ModelNotAvailableError:
    """The one-sentence error for a model that is not here: how to fetch it, what works offline."""
    random = spec_text.lower().endswith("@random")
    fetch_spec = spec_text[: -len("@random")] if random else spec_text
    # Untrained HF weights are built from the repository's config.json, so even @random needs it once.
    subject = (
        f"Model {spec_text} needs its repository's config.json, which is not in the local model cache,"
        if random and spec_text.startswith("hf:")
        else f"Model {spec_text} is not in the local model cache"
    )
    return ModelNotAvailableError(
        f"{subject} and {why}: connect to the internet and run "
        f"`python -m vitdemo fetch {fetch_spec}` once (it fills the Hugging Face cache), or pick a model that "
        f"works offline ({OFFLINE_MODELS}; `python -m vitdemo models` lists them)."
    )


def cached_file(repo_id: str, filenames: Sequence[str]) -> Path | None:
    """The first of `filenames` present in the local cache for `repo_id`, or None."""
    for filename in filenames:
        found = try_to_load_from_cache(repo_id, filename, cache_dir=str(cache_dir()))
        if isinstance(found, str) and os.path.isfile(found):
            return Path(found)
    return None


def hub_file(repo_id: str, filenames: Sequence[str], *, spec_text: str, required: bool = True) -> Path | None:
    """A local path for the first of `filenames` that `repo_id` has: from the cache, else downloaded.

    Args:
        repo_id: the hub repository, e.g. "timm/resnet50.a1_in1k".
        filenames: candidates in order of preference (e.g. safetensors before pickle-free .bin).
        spec_text: the user's spec, for messages.
        required: when False, a file the repository does not have gives None instead of an error.

    Raises:
        ModelNotAvailableError: not cached and the hub cannot be reached (or is switched off).
        ModelSpecError: the repository or the file does not exist on the hub.
    """
    found = cached_file(repo_id, filenames)
    if found is not None:
        return found
    if hub_offline():
        if not required and cached_file(repo_id, ["config.json"]) is not None:
            return None  # the repository is cached; this optional file simply was not in it
        raise not_available(spec_text, "HF_HUB_OFFLINE is set")
    if not hub_reachable():
        raise not_available(spec_text, "the Hugging Face Hub cannot be reached from here")
    return _download_first(repo_id, filenames, spec_text=spec_text, required=required)


def _download_first(repo_id: str, filenames: Sequence[str], *, spec_text: str, required: bool) -> Path | None:
    for filename in filenames:
        try:
            return Path(hf_hub_download(repo_id, filename, cache_dir=str(cache_dir())))
        except RemoteEntryNotFoundError:
            # The repository exists but lacks this candidate: try the next one. (Not the wider
            # EntryNotFoundError: its LocalEntryNotFoundError branch means the network failed.)
            continue
        except GatedRepoError:  # before its base class, RepositoryNotFoundError
            raise ModelNotAvailableError(
                f"{spec_text}: {repo_id} is gated; accept its terms on huggingface.co and log in with `hf auth login`."
            ) from None
        except (RepositoryNotFoundError, RevisionNotFoundError):
            raise ModelSpecError(
                f"{spec_text}: there is no public repository {repo_id} on the Hugging Face Hub."
            ) from None
        except Exception as err:  # network trouble of any kind: say so, never fall back to another model
            raise not_available(spec_text, f"downloading it failed ({type(err).__name__})") from None
    if required:
        raise ModelSpecError(f"{spec_text}: {repo_id} has none of {', '.join(filenames)}.")
    return None


def hub_reachable(timeout_s: float = 3.0) -> bool:
    """Can we open a connection to the hub? Probed once a minute, so offline classrooms never wait.

    Behind an HTTP(S) proxy the direct probe says nothing, so we assume yes and let the download decide.
    """
    if any(os.environ.get(var) for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    endpoint = urlparse(constants.ENDPOINT)
    host, port = endpoint.hostname or "huggingface.co", endpoint.port or 443
    now = time.monotonic()
    cached = _reachability.get(host)
    if cached and now - cached[0] < _REACHABLE_TTL_S:
        return cached[1]
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
        reachable = True
    except OSError:
        reachable = False
    _reachability[host] = (now, reachable)
    return reachable
