"""Map pages: size, server time and draw time, ours against the naive folium pages.

    .venv/bin/python bench/bench_maps.py [--sizes 10000,1000000] [--naive 10000,100000]
        [--city 1000000]

Ours: /maps/hotspots for a peer and a manager over N synthetic events (a quarter), served by
the app (first and warm), drawn in headless Chromium (/usr/bin/chromium) with the network
cut off. Naive: the page a user would write with folium (one CircleMarker per event, and a
HeatMap of the raw points), on the same self-hosted Leaflet, rendered and drawn the same way.
City: every manager page and a peer's of a synthetic 1M-event city (``bench/city_pages.py``).
"""

from __future__ import annotations

import argparse
import gzip
import io
import socket
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import folium  # noqa: E402
import folium.plugins  # noqa: E402

from geo_service.assets import FOLIUM_TEMPLATES, VENDOR  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]  # fmt: skip
QUARTER_START = 1_743_465_600  # 2025-04-01
MARKERCLUSTER = "https://registry.npmjs.org/leaflet.markercluster/-/leaflet.markercluster-1.5.3.tgz"


def sizes(text: str) -> list[int]:
    return [int(s) for s in text.split(",") if s]


def draw_seconds(browser: Any, url: str, cookie: dict[str, str] | None = None) -> float:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    if cookie:
        context.add_cookies([cookie])
    base = url.split("/", 3)[:3]
    context.route(
        "**/*", lambda r: r.continue_() if r.request.url.startswith("/".join(base)) else r.abort()
    )
    page = context.new_page()
    start = time.perf_counter()
    page.goto(url, wait_until="load", timeout=120_000)
    drawn = "path.leaflet-interactive, canvas.leaflet-heatmap-layer, .marker-cluster"
    page.wait_for_function(f"document.querySelectorAll('{drawn}').length > 0", timeout=120_000)
    seconds = time.perf_counter() - start
    context.close()
    return seconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ours(n: int, browser: Any | None) -> None:
    import uvicorn

    from geo_service.auth import Role, create_key
    from geo_service.main import create_app
    from geo_service.settings import Settings
    from geo_service.storage import BatchRecord, EventRows

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            database_url=f"sqlite:///{tmp}/maps.sqlite3", map_tiles="none", rate_limit_per_key=0
        )
        app = create_app(settings)
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        threading.Thread(target=server.run, daemon=True).start()
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        store, deployment = app.state.store, app.state.deployment
        keys = {r: create_key(store, program="city", role=r)[1] for r in (Role.PEER, Role.MANAGER)}
        ix, iy = deployment.study_cells(125)
        rng = np.random.default_rng(4)
        hot = rng.integers(0, len(ix), 25)
        pick = np.where(
            rng.random(n) < 0.7, hot[rng.integers(0, 25, n)], rng.integers(0, len(ix), n)
        )
        rows = EventRows(
            kind=["needle_report"] * n,
            cell_m=np.full(n, 125, dtype=np.int64),
            cell_ix=ix[pick],
            cell_iy=iy[pick],
            bucket_start=QUARTER_START + rng.integers(0, 2184, n) * 3600,
            bucket_hours=np.ones(n, dtype=np.int64),
            count=np.ones(n, dtype=np.int64),
            source=[None] * n, fatal=[None] * n, naloxone_doses=[None] * n, place_type=[None] * n,
        )  # fmt: skip
        store.store_events(
            BatchRecord("bench", store.program_id("city"), None, "events", None, "x", "2026-01-01"),
            rows,
        )
        for role, key in keys.items():
            url = f"{base}/maps/hotspots?kind=needle_report&period=2025-Q2"
            request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
            start = time.perf_counter()
            body = urllib.request.urlopen(request, timeout=600).read()
            first = time.perf_counter() - start
            warm = []
            for _ in range(10):
                start = time.perf_counter()
                urllib.request.urlopen(request, timeout=600).read()
                warm.append(time.perf_counter() - start)
            drawn = float("nan")
            if browser is not None:
                signin = urllib.request.Request(
                    f"{base}/signin", data=f"key={key}&next=/maps".encode(), method="POST"
                )
                opener = urllib.request.build_opener(NoRedirect())
                try:
                    opener.open(signin)
                except urllib.error.HTTPError as answer:
                    token = answer.headers["set-cookie"].split(";")[0].split("=", 1)[1]
                cookie = {"name": "gs_session", "value": token, "url": base}
                drawn = draw_seconds(browser, url, cookie)
            print(
                f"ours, {role.value:7s}, {n:>9,} events: {len(body) / 1e6:.2f} MB raw, "
                f"{len(gzip.compress(body)) / 1e6:.2f} MB gzip; first {first:.2f} s, warm "
                f"{np.median(warm) * 1000:.0f} ms; drawn in {drawn:.2f} s "
                "(target 1M: <= 1.5 MB, <= 300 ms warm, <= 2 s draw)"
            )
        server.should_exit = True


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


def naive(n: int, browser: Any | None, directory: Path) -> None:
    rng = np.random.default_rng(5)
    lon = -101.8779 + rng.normal(0, 0.01, n)
    lat = 54.7682 + rng.normal(0, 0.005, n)
    for name in ("CircleMarker per event", "MarkerCluster of events", "HeatMap of raw points"):
        start = time.perf_counter()
        fmap = folium.Map(location=[54.7682, -101.8779], zoom_start=13, tiles=None)
        fmap.options["maxZoom"] = 19  # MarkerCluster needs one; without tiles nothing sets it
        fmap.default_js = [("leaflet", "/vendor/leaflet/leaflet.js")]
        fmap.default_css = [("leaflet_css", "/vendor/leaflet/leaflet.css")]
        if name.startswith("Circle"):
            for x, y in zip(lon, lat, strict=True):
                folium.CircleMarker([y, x], radius=3).add_to(fmap)
        elif name.startswith("Marker"):
            cluster = folium.plugins.MarkerCluster()  # type: ignore[no-untyped-call]
            cluster.default_js = [("markercluster", "/cluster/leaflet.markercluster.js")]
            cluster.default_css = [
                ("mc", "/cluster/MarkerCluster.css"),
                ("mcd", "/cluster/MarkerCluster.Default.css"),
            ]
            for x, y in zip(lon, lat, strict=True):
                folium.Marker([y, x]).add_to(cluster)
            cluster.add_to(fmap)
        else:
            heat = folium.plugins.HeatMap(  # type: ignore[no-untyped-call]
                np.column_stack([lat, lon]).tolist()
            )
            heat.default_js = [("leaflet-heat.js", "/folium/leaflet_heat.min.js")]
            heat.add_to(fmap)
        page = fmap.get_root().render().encode()
        render = time.perf_counter() - start
        path = directory / f"naive-{n}-{name[:6]}.html"
        path.write_bytes(page)
        drawn = float("nan")
        if browser is not None:
            try:
                drawn = draw_seconds(browser, f"{STATIC_BASE}/{path.name}")
            except Exception as exc:  # a page that never draws is a result too
                print(f"  ({name} did not draw: {type(exc).__name__})")
        print(
            f"naive {name}, {n:>9,} events: {len(page) / 1e6:.2f} MB raw, "
            f"{len(gzip.compress(page)) / 1e6:.2f} MB gzip; rendered in {render:.2f} s; "
            f"drawn in {drawn:.2f} s"
        )


STATIC_BASE = ""


def serve_static(directory: Path) -> str:
    import http.server

    (directory / "vendor").symlink_to(VENDOR)
    (directory / "folium").symlink_to(FOLIUM_TEMPLATES)
    # MarkerCluster for the naive page, from the npm registry like our own assets.
    with urllib.request.urlopen(MARKERCLUSTER, timeout=60) as answer:
        data = answer.read()
    (directory / "cluster").mkdir()
    files = ("leaflet.markercluster.js", "MarkerCluster.css", "MarkerCluster.Default.css")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for name in files:
            member = archive.extractfile(f"package/dist/{name}")
            assert member is not None
            (directory / "cluster" / name).write_bytes(member.read())

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: Any, **k: Any) -> None:
            super().__init__(*a, directory=str(directory), **k)

        def log_message(self, *a: Any) -> None:
            pass

    port = free_port()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{port}"


def main() -> None:
    global STATIC_BASE
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--naive", default="10000,100000")
    parser.add_argument("--city", default="", help="events of the city whose pages to measure")
    parser.add_argument("--save", type=Path, help="write the city's pages to this folder")
    args = parser.parse_args()
    for n in sizes(args.city):
        from city_pages import measure

        measure(n, args.save)
    browser = None
    playwright = None
    if Path(CHROMIUM).exists():
        from playwright.sync_api import sync_playwright

        playwright = sync_playwright().start()
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    else:
        print("no /usr/bin/chromium: draw times are not measured")
    for n in sizes(args.sizes):
        ours(n, browser)
    with tempfile.TemporaryDirectory() as tmp:
        STATIC_BASE = serve_static(Path(tmp))
        for n in sizes(args.naive):
            naive(n, browser, Path(tmp))
    if browser is not None and playwright is not None:
        browser.close()
        playwright.stop()


if __name__ == "__main__":
    main()
