"""Alerts: the daily series kept at ingest, named areas, rules, drafted and sent alerts, and
where they were delivered."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geo_service.storage.alert_records import (
    AlertArea,
    AlertRule,
    DailyCount,
    DailyTally,
    Delivery,
    NewAlert,
    NewAlertRule,
    NewSubscriber,
    StoredAlert,
    Subscriber,
)
from geo_service.storage.schema import (
    alert_areas,
    alert_deliveries,
    alert_rules,
    alert_subscribers,
    alerts,
    daily_counts,
    programs,
)
from geo_service.storage.sql.engine import SqlBase, inserted_id

# One statement for both dialects (SQLite 3.24+, PostgreSQL 9.5+): add to the day's row.
_ADD_DAILY = sa.text(
    "INSERT INTO daily_counts (program_id, kind, area, day, events, amount, naloxone) "
    "VALUES (:program_id, :kind, :area, :day, :events, :amount, :naloxone) "
    "ON CONFLICT (program_id, kind, area, day) DO UPDATE SET "
    "events = daily_counts.events + excluded.events, "
    "amount = daily_counts.amount + excluded.amount, "
    "naloxone = daily_counts.naloxone + excluded.naloxone"
)


def add_daily(conn: Connection, program_id: int, tally: DailyTally) -> None:
    """Add a batch's tally to the series, inside the batch's own transaction."""
    if not len(tally):
        return
    conn.execute(
        _ADD_DAILY,
        [
            {
                "program_id": program_id,
                "kind": kind,
                "area": area,
                "day": day,
                "events": events,
                "amount": amount,
                "naloxone": naloxone,
            }
            for kind, area, day, events, amount, naloxone in zip(
                tally.kind,
                tally.area,
                tally.day,
                tally.events.tolist(),
                tally.amount.tolist(),
                tally.naloxone.tolist(),
                strict=True,
            )
        ],
    )


def new_ref() -> str:
    """16 URL-safe characters (96 random bits): an alert's name in answers and links. Never
    beginning with "-", which a command line would read as an option."""
    while True:
        ref = secrets.token_urlsafe(12)
        if not ref.startswith("-"):
            return ref


def _alert(row: Any) -> StoredAlert:
    return StoredAlert(**{f.name: getattr(row, f.name) for f in dataclasses.fields(StoredAlert)})


def _rule(row: Any) -> AlertRule:
    return AlertRule(**{f.name: getattr(row, f.name) for f in dataclasses.fields(AlertRule)})


class AlertSql(SqlBase):
    # -- daily series ---------------------------------------------------------------------
    def daily_series(
        self, program_id: int, kind: str, *, first_day: str, areas: Sequence[str] | None = None
    ) -> list[DailyCount]:
        c = daily_counts.c
        query = sa.select(c.area, c.day, c.events, c.amount, c.naloxone).where(
            c.program_id == program_id, c.kind == kind, c.day >= first_day
        )
        if areas is not None:
            query = query.where(c.area.in_(list(areas)))
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(c.area, c.day)).all()
        return [DailyCount(*row) for row in rows]

    def replace_daily_series(self, program_id: int, tally: DailyTally) -> None:
        """Rebuild a program's whole series (a new named area, or events from before 0015)."""
        with self._write() as conn:
            conn.execute(sa.delete(daily_counts).where(daily_counts.c.program_id == program_id))
            add_daily(conn, program_id, tally)

    # -- named areas ----------------------------------------------------------------------
    def add_alert_area(self, program_id: int, name: str, geometry: str, now: int) -> int:
        with self._write() as conn:
            result = conn.execute(
                sa.insert(alert_areas).values(
                    program_id=program_id, name=name, geometry=geometry, created_at=now
                )
            )
            return inserted_id(result)

    def alert_areas(self, program_id: int) -> list[AlertArea]:
        c = alert_areas.c
        query = (
            sa.select(c.id, c.program_id, c.name, c.geometry, c.created_at)
            .where(c.program_id == program_id, c.deleted_at.is_(None))
            .order_by(c.id)
        )
        with self.engine.connect() as conn:
            return [AlertArea(*row) for row in conn.execute(query)]

    def delete_alert_area(self, program_id: int, area_id: int, now: int) -> bool:
        c = alert_areas.c
        with self._write() as conn:
            result = conn.execute(
                sa.update(alert_areas)
                .where(c.id == area_id, c.program_id == program_id, c.deleted_at.is_(None))
                .values(deleted_at=now)
            )
            return result.rowcount == 1

    # -- rules ----------------------------------------------------------------------------
    def add_alert_rule(self, rule: NewAlertRule) -> int:
        with self._write() as conn:
            result = conn.execute(sa.insert(alert_rules).values(**dataclasses.asdict(rule)))
            return inserted_id(result)

    def alert_rules(self, program_id: int, *, with_deleted: bool = False) -> list[AlertRule]:
        query = sa.select(alert_rules).where(alert_rules.c.program_id == program_id)
        if not with_deleted:
            query = query.where(alert_rules.c.deleted_at.is_(None))
        with self.engine.connect() as conn:
            return [_rule(row) for row in conn.execute(query.order_by(alert_rules.c.id))]

    def delete_alert_rule(self, program_id: int, rule_id: int, now: int) -> bool:
        c = alert_rules.c
        with self._write() as conn:
            result = conn.execute(
                sa.update(alert_rules)
                .where(c.id == rule_id, c.program_id == program_id, c.deleted_at.is_(None))
                .values(deleted_at=now)
            )
            return result.rowcount == 1

    # -- alerts ---------------------------------------------------------------------------
    def draft_alert(self, alert: NewAlert) -> int | None:
        """Store a new alert; ``None`` if this rule already has one for this area and day."""
        c = alerts.c
        with self._write() as conn:
            earlier = conn.execute(
                sa.select(c.id).where(
                    c.program_id == alert.program_id,
                    c.rule_id == alert.rule_id,
                    c.area == alert.area,
                    c.day == alert.day,
                )
            ).first()
            if earlier is not None:
                return None
            result = conn.execute(
                sa.insert(alerts).values(**dataclasses.asdict(alert), ref=new_ref())
            )
            return inserted_id(result)

    def alert(self, program_id: int, alert_id: int) -> StoredAlert | None:
        query = sa.select(alerts).where(alerts.c.id == alert_id, alerts.c.program_id == program_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _alert(row)

    def alert_by_ref(self, program_id: int, ref: str) -> StoredAlert | None:
        query = sa.select(alerts).where(alerts.c.ref == ref, alerts.c.program_id == program_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _alert(row)

    def list_alerts(
        self,
        program_id: int,
        *,
        statuses: Sequence[str] | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[StoredAlert]:
        """Newest first."""
        c = alerts.c
        query = sa.select(alerts).where(c.program_id == program_id)
        if statuses is not None:
            query = query.where(c.status.in_(list(statuses)))
        if before_id is not None:
            query = query.where(c.id < before_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(c.id.desc()).limit(limit)).all()
        return [_alert(row) for row in rows]

    def decide_alert(
        self, program_id: int, alert_id: int, *, status: str, now: int, key_id: int | None
    ) -> StoredAlert | None:
        """Move a drafted alert to ``sent`` or ``dismissed`` once; ``None`` if it is not a
        draft (already decided, or not this program's)."""
        c = alerts.c
        with self._write() as conn:
            result = conn.execute(
                sa.update(alerts)
                .where(c.id == alert_id, c.program_id == program_id, c.status == "drafted")
                .values(status=status, decided_at=now, decided_by=key_id)
            )
            if result.rowcount != 1:
                return None
            row = conn.execute(sa.select(alerts).where(c.id == alert_id)).one()
        return _alert(row)

    def set_poster_public(self, program_id: int, alert_id: int, public: bool) -> bool:
        """Only a sent alert's poster can be published."""
        c = alerts.c
        with self._write() as conn:
            result = conn.execute(
                sa.update(alerts)
                .where(c.id == alert_id, c.program_id == program_id, c.status == "sent")
                .values(poster_public=public)
            )
            return result.rowcount == 1

    # -- delivery -------------------------------------------------------------------------
    def add_subscriber(self, subscriber: NewSubscriber) -> int:
        with self._write() as conn:
            result = conn.execute(
                sa.insert(alert_subscribers).values(**dataclasses.asdict(subscriber))
            )
            return inserted_id(result)

    def subscribers(self, program_id: int) -> list[Subscriber]:
        c = alert_subscribers.c
        query = (
            sa.select(c.program_id, c.channel, c.target, c.audience, c.secret, c.created_at, c.id)
            .where(c.program_id == program_id, c.deleted_at.is_(None))
            .order_by(c.id)
        )
        with self.engine.connect() as conn:
            return [Subscriber(*row) for row in conn.execute(query)]

    def delete_subscriber(self, program_id: int, subscriber_id: int, now: int) -> bool:
        c = alert_subscribers.c
        with self._write() as conn:
            result = conn.execute(
                sa.update(alert_subscribers)
                .where(c.id == subscriber_id, c.program_id == program_id, c.deleted_at.is_(None))
                .values(deleted_at=now)
            )
            return result.rowcount == 1

    def add_delivery(self, delivery: Delivery) -> None:
        with self._write() as conn:
            conn.execute(sa.insert(alert_deliveries).values(**dataclasses.asdict(delivery)))

    def deliveries(self, alert_id: int) -> list[Delivery]:
        c = alert_deliveries.c
        query = (
            sa.select(c.alert_id, c.subscriber_id, c.at, c.ok, c.detail)
            .where(c.alert_id == alert_id)
            .order_by(c.id)
        )
        with self.engine.connect() as conn:
            return [Delivery(*row) for row in conn.execute(query)]

    # -- the poster's phone number --------------------------------------------------------
    def alert_phone(self, program_id: int) -> str | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                sa.select(programs.c.alert_phone).where(programs.c.id == program_id)
            ).scalar()
        return None if value is None else str(value)

    def set_alert_phone(self, program_id: int, phone: str | None) -> None:
        with self._write() as conn:
            conn.execute(
                sa.update(programs).where(programs.c.id == program_id).values(alert_phone=phone)
            )

    # -- delivery's look-ups ----------------------------------------------------------------
    def program_name(self, program_id: int) -> str | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                sa.select(programs.c.name).where(programs.c.id == program_id)
            ).scalar()
        return None if value is None else str(value)

    def public_poster(self, ref: str) -> tuple[StoredAlert, str] | None:
        """A sent alert whose poster the steward published, with its program's name; the one
        look-up by reference alone, for the public poster page (no key, so no program)."""
        c = alerts.c
        query = (
            sa.select(alerts, programs.c.name.label("program_name"))
            .join(programs, programs.c.id == c.program_id)
            .where(c.ref == ref, c.status == "sent", c.poster_public.is_(True))
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else (_alert(row), str(row.program_name))
