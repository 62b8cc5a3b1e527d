"""``geo-service alerts ...``: a program's alert rules, named areas, drafts to review and the
poster's phone number, through the same service functions as ``/v1/alert-*`` and
``/v1/alerts`` (the steward's and manager's view: the CLI runs on the server)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from geo_service.auth import Role
from geo_service.cli.common import deployment_of, existing_program, fail, opened
from geo_service.errors import ServiceError
from geo_service.services.alerts import delivery
from geo_service.services.alerts.evaluate import check_alerts, settled
from geo_service.services.alerts.named_areas import NamedArea, add_named_areas, delete_named_area
from geo_service.services.alerts.review import (
    PAGE_MAX,
    Page,
    Reader,
    decide_alert,
    list_alerts,
    set_phone,
)
from geo_service.services.alerts.rules import (
    AREA_SCOPES,
    KINDS,
    METHODS,
    Caller,
    RuleAsk,
    add_rule,
    check_name,
    delete_rule,
    rule_json,
)
from geo_service.services.alerts.series import rebuild_series
from geo_service.services.alerts.views import area_in
from geo_service.settings import get_settings

app = typer.Typer(help="Spike alerts: rules, named areas, drafts to review (see README, Alerts).")
rules_app = typer.Typer(help="The steward's alert rules.")
areas_app = typer.Typer(help="Named alert areas (at least 0.25 km², inside the program).")
app.add_typer(rules_app, name="rules")
app.add_typer(areas_app, name="areas")

ProgramOption = Annotated[str, typer.Option(help="the program's name")]
IdArgument = Annotated[int, typer.Argument(min=1, help="the id 'list' shows")]
RefArgument = Annotated[str, typer.Argument(help="the alert's id as 'alerts list' shows it")]


def _caller(program_id: int) -> Caller:
    return Caller(program_id, "cli", None, int(time.time()))


def _option(text: str) -> tuple[str, Any]:
    """``name=value``; the value read as JSON (a number, true) or else kept as text."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise fail("an option is NAME=VALUE, such as threshold=2.5 or alarm_at=yellow")
    try:
        return name, orjson.loads(value)
    except orjson.JSONDecodeError:
        return name, value


NameOption = Annotated[str, typer.Option(help="your words for the rule, 1-100 characters")]
KindOption = Annotated[str, typer.Option(help=" or ".join(KINDS))]
AreasOption = Annotated[str, typer.Option(help=", ".join(AREA_SCOPES))]
AutoSendOption = Annotated[
    bool, typer.Option(help="send without review (one reporting key alone never does)")
]


def _add(program: str, ask: RuleAsk) -> None:
    with opened(get_settings()) as (store, defaults):
        program_id = existing_program(store, program)
        deployment = deployment_of(store, defaults, program_id)
        try:
            rule = add_rule(store, deployment, _caller(program_id), ask)
        except ServiceError as exc:
            raise fail(f"No rule was added: {exc.detail}") from None
    typer.echo(orjson.dumps(rule_json(rule)).decode())


@rules_app.command("add")
def rules_add(
    program: ProgramOption,
    name: NameOption,
    threshold: Annotated[
        int, typer.Option(help="how many reports (or naloxone doses) in the window alert")
    ],
    kind: KindOption = "overdose",
    method: Annotated[str, typer.Option(help="count, or naloxone (doses)")] = "count",
    window: Annotated[int, typer.Option(help="hours: 24, or 1 for hourly reports")] = 24,
    areas: AreasOption = "all",
    auto_send: AutoSendOption = False,
) -> None:
    """Add a fixed rule, ODMAP-style: N reports (or N naloxone doses) in a rolling window.
    Prints the rule as JSON."""
    _add(program, RuleAsk(name, kind, method, window, threshold, areas, auto_send))


@rules_app.command("add-trend")
def rules_add_trend(
    program: ProgramOption,
    name: NameOption,
    method: Annotated[
        str, typer.Option(help=", ".join(m for m in METHODS if m not in ("count", "naloxone")))
    ],
    kind: KindOption = "overdose",
    threshold: Annotated[
        int | None, typer.Option(help="the fewest reports in a day that may alert (3)")
    ] = None,
    areas: AreasOption = "all",
    auto_send: AutoSendOption = False,
    option: Annotated[
        list[str] | None,
        typer.Option(help="NAME=VALUE, repeatable: threshold, min_sigma (ears), alarm_at (ewma)"),
    ] = None,
) -> None:
    """Add a rule that compares today with the usual days (EARS C1/C2/C3, EWMA). Prints the
    rule as JSON."""
    options = dict(_option(o) for o in option or [])
    _add(program, RuleAsk(name, kind, method, 24, threshold, areas, auto_send, options))


@rules_app.command("list")
def rules_list(program: ProgramOption) -> None:
    """The program's rules, one JSON object a line."""
    with opened(get_settings()) as (store, _):
        rules = store.alert_rules(existing_program(store, program))
    for rule in rules:
        typer.echo(orjson.dumps(rule_json(rule)).decode())


@rules_app.command("delete")
def rules_delete(rule_id: IdArgument, program: ProgramOption) -> None:
    """Remove a rule (its alerts stay)."""
    with opened(get_settings()) as (store, _):
        if not delete_rule(store, _caller(existing_program(store, program)), rule_id):
            raise fail("no rule of this program with that id")
    typer.echo(f"Removed rule {rule_id}.")


@areas_app.command("add")
def areas_add(
    file: Annotated[Path, typer.Argument(help="a polygon file (GeoJSON, GeoPackage, ...)")],
    name: Annotated[str, typer.Option(help="the area in words, as alerts will name it")],
    program: ProgramOption,
) -> None:
    """Add one named area: the union of the file's polygons (any CRS)."""
    from geo_service.ingest.areas import read_area

    with opened(get_settings()) as (store, defaults):
        program_id = existing_program(store, program)
        try:
            area = NamedArea(check_name(name, "an area's name"), read_area(file))
            deployment = deployment_of(store, defaults, program_id)
            [added] = add_named_areas(store, deployment, _caller(program_id), [area])
        except ServiceError as exc:
            raise fail(f"No area was added: {exc.detail}") from None
    typer.echo(f"Added area {added.id}: {added.name}")


@areas_app.command("list")
def areas_list(program: ProgramOption) -> None:
    """The program's named areas: id, name."""
    with opened(get_settings()) as (store, _):
        areas = store.alert_areas(existing_program(store, program))
    for area in areas:
        typer.echo(f"{area.id}\t{area.name}")


@areas_app.command("delete")
def areas_delete(area_id: IdArgument, program: ProgramOption) -> None:
    """Remove a named area (alerts already about it keep its name)."""
    with opened(get_settings()) as (store, defaults):
        program_id = existing_program(store, program)
        deployment = deployment_of(store, defaults, program_id)
        if not delete_named_area(store, deployment, _caller(program_id), area_id):
            raise fail("no named area of this program with that id")
    typer.echo(f"Removed area {area_id}.")


def _line(view: dict[str, Any]) -> str:
    expected = "" if view["expected"] is None else f" (expected {view['expected']:g})"
    return (
        f"{view['id']}\t{view['status']}\t{view['day']}\t{view['area']}\t{view['headline']}\t"
        f"{view['observed']} seen{expected}\trule {view['rule']['id']}: {view['rule']['name']}"
    )


@app.command("list")
def alerts_list(
    program: ProgramOption,
    all_: Annotated[
        bool, typer.Option("--all", help="the whole history, not only the last week's")
    ] = False,
) -> None:
    """Alerts drafted in the last week (drafts and sent ones), or with --all every alert,
    newest first: id, status, day, area, headline, counts, rule."""
    with opened(get_settings()) as (store, _):
        reader = Reader(existing_program(store, program), Role.STEWARD, 0, "en")
        page, now, lines = Page(limit=PAGE_MAX), int(time.time()), []
        while True:
            views, following = list_alerts(store, reader, history=all_, page=page, now=now)
            lines += [_line(v) for v in views]
            if following is None or not all_:
                break
            page = Page(following, PAGE_MAX)
    for line in lines:
        typer.echo(line)


def _decide(ref: str, program: str, *, confirm: bool) -> str:
    settings = get_settings()
    with opened(settings) as (store, _):
        program_id = existing_program(store, program)
        try:
            decided = decide_alert(store, _caller(program_id), ref, confirm=confirm)
        except ServiceError as exc:
            raise fail(exc.detail) from None
        if confirm:  # never raises: a failed delivery is recorded, not lost
            delivery.deliver_alert(store, settings, program_id, decided.id)
    return "sent" if confirm else "dismissed"


@app.command("confirm")
def alerts_confirm(alert_id: RefArgument, program: ProgramOption) -> None:
    """Send a drafted alert to peers, the feed and the subscribers."""
    typer.echo(f"Alert {alert_id} {_decide(alert_id, program, confirm=True)}.")


@app.command("dismiss")
def alerts_dismiss(alert_id: RefArgument, program: ProgramOption) -> None:
    """Dismiss a drafted alert: it is never sent, and peers never see it."""
    typer.echo(f"Alert {alert_id} {_decide(alert_id, program, confirm=False)}.")


@app.command("phone")
def alerts_phone(
    number: Annotated[str, typer.Argument(help='the number, such as "+1 204 555 0100"; "" clears')],
    program: ProgramOption,
) -> None:
    """Set the phone number the printable alert poster gives."""
    with opened(get_settings()) as (store, _):
        try:
            phone = set_phone(store, _caller(existing_program(store, program)), number)
        except ServiceError as exc:
            raise fail(exc.detail) from None
    typer.echo(f"The poster gives {phone}." if phone else "The poster gives no phone number.")


@app.command("check")
def alerts_check(program: ProgramOption) -> None:
    """Evaluate the program's rules now (they also run after every batch): new drafts, and
    alerts sent at once for rules marked so."""
    settings = get_settings()
    with opened(settings) as (store, defaults):
        program_id = existing_program(store, program)
        found = check_alerts(store, deployment_of(store, defaults, program_id), program_id)
        settled()  # deliveries of alerts sent at once
    typer.echo(f"{len(found)} new alert(s).")
    for alert in found:
        typer.echo(f"{alert.ref}\t{alert.status}\t{alert.day}\t{area_in(alert, 'en')}")


@app.command("rebuild")
def alerts_rebuild(program: ProgramOption) -> None:
    """Recount the program's daily series from its stored events (events stored before this
    version, or after the program's geography changed)."""
    with opened(get_settings()) as (store, defaults):
        program_id = existing_program(store, program)
        days = rebuild_series(store, deployment_of(store, defaults, program_id), program_id)
    typer.echo(f"Recounted the daily series: {days} rows.")
