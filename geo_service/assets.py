"""Front-end files the maps load, installed from the npm registry by exact version and hash.

Pages load nothing from other hosts (viewers' browsing stays private; maps work where the
internet is poor), so Leaflet and Swagger UI (for ``/docs``) are fetched once at set-up,
checked against the integrity hash pinned in ``static/vendor.lock.json``, and served under
``/static/vendor``. Folium's own
heat-map script comes from the folium wheel.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import urllib.request
from pathlib import Path

import folium

STATIC = Path(__file__).resolve().parent / "static"
VENDOR = STATIC / "vendor"
LOCK = STATIC / "vendor.lock.json"
FOLIUM_TEMPLATES = Path(folium.__file__).resolve().parent / "templates"


class AssetError(RuntimeError):
    """A front-end package could not be fetched or did not match its pinned hash."""


def install_assets(*, force: bool = False) -> list[str]:
    """Fetch and unpack every pinned package whose files are missing; return what was written."""
    lock = json.loads(LOCK.read_text())
    written: list[str] = []
    for name, package in lock.items():
        targets = package["files"]
        if not force and all((VENDOR / t).is_file() for t in targets.values()):
            continue
        try:
            with urllib.request.urlopen(package["tarball"], timeout=60) as response:  # noqa: S310
                data = response.read()
        except OSError as exc:
            raise AssetError(
                f"could not download {name} {package['version']} from the npm registry "
                f"({type(exc).__name__}); check the network and run 'geo-service assets' again"
            ) from None
        algorithm, _, expected = package["integrity"].partition("-")
        actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
        if actual != expected:
            raise AssetError(f"{name} {package['version']} does not match its pinned hash")
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            for source, target in targets.items():
                member = archive.extractfile(source)
                if member is None:
                    raise AssetError(f"{name} {package['version']} has no {source}")
                path = VENDOR / target
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(member.read())
                written.append(target)
    return written
