"""The synthetic media the describe tests use (they live in the package for `vmb eval`)."""

from vmb_agent.describe.synthetic import (  # noqa: F401
    brighten,
    cutting_video,
    panning_video,
    photo,
    saturate,
    save_image,
    scene,
    warm,
    write_video,
)
