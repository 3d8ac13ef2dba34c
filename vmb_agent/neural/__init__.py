"""Neural backends: the paper's models on the design card's stack, loading local weights only.

Each backend lives in its own module and registers in its stage's registry under a name; its
module imports torch / transformers / diffusers only when the backend is created, so the
default path (analysis describer, MiniLM embedder, symbolic generator, SoundFont renderer)
never imports them.

========================  ======================  =============================================
backend                   module                  weights setting
========================  ======================  =============================================
``render.musicgen-melody``  :mod:`.musicgen`      ``VMB_MUSICGEN_MODEL``
``render.stable-audio``     :mod:`.stable_audio`  ``VMB_STABLE_AUDIO_MODEL``
``embed.clap``              :mod:`.clap`          ``VMB_CLAP_MODEL``
``describe.vlm``            :mod:`.vlm`           ``VMB_VLM_MODEL``
========================  ======================  =============================================

:mod:`.common` holds what they share: finding the weights (a folder, or a hub id resolved from
the local Hugging Face cache with ``HF_HUB_OFFLINE=1``), the ``[neural]`` extra check, the
device (``VMB_DEVICE``) and a cache of loaded models.
"""
