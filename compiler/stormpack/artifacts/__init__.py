"""Deployable artifacts: what Sentinel, Defender XDR and Splunk admins import, plus the catalogue.

One module per product (:mod:`.sentinel`, :mod:`.defender`, :mod:`.splunk`), tenant lists
(:mod:`.lists`), the catalogue (:mod:`.catalogue`); product limits and defaults are data in
:mod:`.settings`. :func:`write_artifacts` writes them all.
"""

from __future__ import annotations

from .build import ArtifactOptions, ArtifactReport, write_artifacts
from .pack import CompiledPack, build_pack, compile_pack, write_pack

__all__ = ["ArtifactOptions", "ArtifactReport", "CompiledPack", "build_pack", "compile_pack",
           "write_artifacts", "write_pack"]
