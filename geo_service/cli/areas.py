"""``geo-service program create|show|list|update``: a program's own area, CRS, time zone
and grid (the steward's; see README "Programs")."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from geo_service.cli.common import deployment_of, existing_program, fail, opened
from geo_service.deployment import Deployment
from geo_service.errors import ServiceError
from geo_service.settings import EventKind, get_settings
from geo_service.storage.sql import SqlStore

if TYPE_CHECKING:
    from geo_service.services.program_areas import AreaChoice

AreaOption = Annotated[
    Path | None,
    typer.Option(help="the area: a polygon file (GeoJSON, GeoPackage, Shapefile, KML), any CRS"),
]
TimezoneOption = Annotated[
    str | None,
    typer.Option(help="IANA time zone (default: the area's; required if it spans several)"),
]
OsmOption = Annotated[
    Path | None,
    typer.Option(help="instead of --area: an OpenStreetMap extract (.osm.pbf) holding --boundary"),
]
BoundaryOption = Annotated[
    str | None,
    typer.Option(help='with --osm: the administrative boundary\'s name, such as "Flin Flon"'),
]
CrsOption = Annotated[
    str | None,
    typer.Option(help="projected CRS in metres, such as EPSG:32614 (default: the area's UTM)"),
]


def program_create(
    name: Annotated[str, typer.Argument(help="the program's name")],
    area: AreaOption = None,
    timezone: TimezoneOption = None,
    crs: CrsOption = None,
    osm: OsmOption = None,
    boundary: BoundaryOption = None,
) -> None:
    """Create a program with its own area; CRS and time zone follow the area unless given.

    The area is a polygon file (--area), or an administrative boundary of an OpenStreetMap
    extract (--osm FILE.osm.pbf --boundary "Flin Flon")."""
    from geo_service.auth import check_program_name
    from geo_service.services.program_areas import create_program, new_geography

    choice = _choice(area, osm, boundary, crs, timezone)
    if choice.area_file is None:
        raise fail(
            "program create needs --area FILE (the program's boundary as a polygon file) or "
            '--osm FILE.osm.pbf --boundary "NAME"'
        )
    with opened(get_settings()) as (store, defaults):
        try:
            geography = new_geography(defaults, choice)
            program_id = create_program(store, check_program_name(name), geography)
        except ServiceError as exc:
            raise fail(f"Nothing was created: {exc.detail}") from None
        described = _describe(name, deployment_of(store, defaults, program_id), events=0)
    typer.echo(described)


def program_update(
    name: Annotated[str, typer.Argument(help="the program's name")],
    area: AreaOption = None,
    timezone: TimezoneOption = None,
    crs: CrsOption = None,
    osm: OsmOption = None,
    boundary: BoundaryOption = None,
) -> None:
    """Change a program's area (it may grow, never leave stored events out), or its CRS or
    time zone (only while it has no events)."""
    from geo_service.services.program_areas import update_geography

    choice = _choice(area, osm, boundary, crs, timezone)
    if choice.area_file is None and timezone is None and crs is None:
        raise fail("nothing to change: give --area (or --osm and --boundary), --timezone or --crs")
    with opened(get_settings()) as (store, defaults):
        program_id = existing_program(store, name)
        try:
            update_geography(store, defaults, program_id, choice)
        except ServiceError as exc:
            raise fail(f"Nothing was changed: {exc.detail}") from None
        described = _describe(
            name, deployment_of(store, defaults, program_id), events=_events(store, program_id)
        )
    typer.echo(described)


def program_show(name: Annotated[str, typer.Argument(help="the program's name")]) -> None:
    """Print a program's area, CRS, time zone and grid (reads only)."""
    with opened(get_settings(), read_only=True) as (store, defaults):
        program_id = existing_program(store, name)
        own = store.program_geography(program_id)[1] is not None
        described = _describe(
            name, deployment_of(store, defaults, program_id), events=_events(store, program_id)
        )
    typer.echo(described + ("" if own else "\n  (the deployment's defaults: GEO_SERVICE_*)"))


def program_list() -> None:
    """List the programs: name, created, events, and whether they have their own area."""
    with opened(get_settings(), read_only=True) as (store, _):
        programs = store.list_programs()
    for p in programs:
        where = "own area" if p.own_geography else "deployment defaults"
        typer.echo(f"{p.name}\tcreated {p.created_on}\t{p.events} events\t{where}")


def _choice(
    area: Path | None, osm: Path | None, boundary: str | None, crs: str | None, tz: str | None
) -> AreaChoice:
    """The options as one choice; --area and --osm exclude each other, --osm needs a name."""
    from geo_service.services.program_areas import AreaChoice

    if area is not None and osm is not None:
        raise fail("give the area either as --area FILE or as --osm FILE --boundary NAME, not both")
    if (osm is None) != (boundary is None):
        raise fail('--osm and --boundary go together: --osm FILE.osm.pbf --boundary "NAME"')
    return AreaChoice(osm if osm is not None else area, crs, tz, boundary)


def _events(store: SqlStore, program_id: int) -> int:
    return store.count_rows(program_id)["events"]


def _describe(name: str, deployment: Deployment, *, events: int) -> str:
    from geo_service.ingest.areas import area_km2

    area = deployment.service_area
    west, south, east, north = area.bounds
    grid = deployment.grid
    cells = ", ".join(f"{k.value} {deployment.cell_m(k)} m" for k in EventKind)
    buckets = ", ".join(f"{k.value} {deployment.bucket_hours(k)} h" for k in EventKind)
    return (
        f"{name}: {area.geom_type.lower()} of {area_km2(area):,.1f} km² "
        f"(west {west:.4f}, south {south:.4f}, east {east:.4f}, north {north:.4f})\n"
        f"  CRS {deployment.crs}; time zone {deployment.timezone}; {events} events\n"
        f"  grid origin ({grid.origin_x_m:g}, {grid.origin_y_m:g}) m, base cell "
        f"{grid.base_cell_m} m; cells: {cells}; buckets: {buckets}"
    )
