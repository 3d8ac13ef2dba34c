"""Settings from the environment (``VMB_`` prefix); CLI flags override them.

    VMB_HOME            library database + outputs (default: a per-user data dir)
    VMB_ALLOWED_ROOTS   where tools may read and write, separated by os.pathsep (':' on Unix);
                        never / or a system folder (vmb_agent.files.SYSTEM_TREES / SYSTEM_DIRS)
    VMB_TRUST_CLIENT_ROOTS  1: an MCP client on stdio may add roots with roots/list (default 0:
                        client roots only narrow VMB_ALLOWED_ROOTS; over HTTP they always do)
    VMB_TOKEN           bearer token for the HTTP MCP server
    VMB_CHROMA_URL      use a Chroma server (http://host:port) instead of the embedded database
    VMB_SOUNDFONT       a .sf2/.sf3 file to render with (default: best installed GM font)
    VMB_CACHE_DIR       derived files made once and reused, e.g. decoded .sf3 SoundFonts
                        (default: the per-user cache dir, shared by every VMB_HOME)
    VMB_LLM_BASE_URL / VMB_LLM_MODEL / VMB_LLM_API_KEY   OpenAI-compatible endpoint for `vmb chat`
    VMB_DESCRIBE_BACKEND / VMB_EMBED_BACKEND / VMB_RENDER_BACKEND   the engines (`vmb backends`)
    VMB_MUSICGEN_MODEL / VMB_STABLE_AUDIO_MODEL / VMB_CLAP_MODEL / VMB_VLM_MODEL   the neural
                        backends' weights: a folder, or a hub id already in the local Hugging Face
                        cache (nothing is downloaded; see vmb_agent/neural)
    VMB_DEVICE          auto (CUDA when torch sees it), cpu or cuda, for the neural backends
    VMB_STABLE_AUDIO_STEPS  stable-audio's diffusion steps (default 100: each costs the same)
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _default_home() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("vmb", appauthor=False))


def _default_cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("vmb", appauthor=False))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VMB_", extra="ignore")

    home: Path = Field(default_factory=_default_home)
    allowed_roots: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    trust_client_roots: bool = Field(
        False, description="stdio only: the MCP client's roots/list may widen the allowed roots"
    )
    token: str | None = None
    chroma_url: str | None = None
    soundfont: Path | None = None
    cache_dir: Path = Field(default_factory=_default_cache_dir)
    collection: str = "vmb_tracks"

    describe_backend: str = "analysis"
    embed_backend: str = "minilm"
    generate_backend: str = "symbolic"
    render_backend: str = "soundfont"

    # the neural backends' local weights (vmb_agent/neural); None: that backend is unavailable
    musicgen_model: str | None = None
    stable_audio_model: str | None = None
    clap_model: str | None = None
    vlm_model: str | None = None
    stable_audio_steps: int | None = Field(
        None, ge=1, le=1000, description="stable-audio's diffusion steps (default 100)"
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"

    max_input_mb: float = Field(2048, gt=0, description="largest input file accepted")
    max_jobs: int | None = Field(
        None, ge=1, le=256,
        description="server: heavy calls (describe, generate, score) run at once; default: cores",
    )
    max_queued: int = Field(
        16, ge=0, le=10_000, description="server: calls of one kind that may wait; then 'busy'"
    )
    measure_tags: bool = Field(
        True, description="tag every generated piece with musicnn (measured.tags, style check)"
    )
    embed_audio_previews: bool = False
    preview_max_kb: int = Field(512, gt=0)

    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None

    @field_validator("allowed_roots", mode="before")
    @classmethod
    def _split_roots(cls, v: object) -> object:
        if isinstance(v, str):
            return [Path(p).expanduser() for p in v.split(os.pathsep) if p.strip()]
        return v

    @field_validator("home", "soundfont", "cache_dir", mode="after")
    @classmethod
    def _expand(cls, v: Path | None) -> Path | None:
        return v.expanduser() if v is not None else None

    @property
    def outputs_dir(self) -> Path:
        return self.home / "outputs"

    @property
    def library_dir(self) -> Path:
        return self.home / "library"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings read from the environment (call ``get_settings.cache_clear()``
    after changing the environment, as tests do)."""
    return Settings()
