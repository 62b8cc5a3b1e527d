"""A program's walking network: swapped whole in one transaction, loaded as arrays."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geo_service.storage.records import NetworkInfo, NetworkRows
from geo_service.storage.schema import network_edges, network_nodes, walking_networks
from geo_service.storage.sql.engine import SqlBase, today

NETWORK_CHUNK_ROWS = 20_000  # nodes or edges per INSERT

Progress = Callable[[int], None]


def _insert_nodes(
    conn: Connection, program_id: int, rows: NetworkRows, progress: Progress | None
) -> None:
    for begin in range(0, len(rows.lon), NETWORK_CHUNK_ROWS):
        part = slice(begin, begin + NETWORK_CHUNK_ROWS)
        conn.execute(
            sa.insert(network_nodes),
            [
                {"program_id": program_id, "node": begin + i, "lon": lo, "lat": la}
                for i, (lo, la) in enumerate(
                    zip(rows.lon[part].tolist(), rows.lat[part].tolist(), strict=True)
                )
            ],
        )
        if progress:
            progress(len(rows.lon[part]))


def _insert_edges(
    conn: Connection, program_id: int, rows: NetworkRows, progress: Progress | None
) -> None:
    for begin in range(0, len(rows.u), NETWORK_CHUNK_ROWS):
        part = slice(begin, begin + NETWORK_CHUNK_ROWS)
        conn.execute(
            sa.insert(network_edges),
            [
                {"program_id": program_id, "u": a, "v": b, "length_m": w}
                for a, b, w in zip(
                    rows.u[part].tolist(),
                    rows.v[part].tolist(),
                    rows.length_m[part].tolist(),
                    strict=True,
                )
            ],
        )
        if progress:
            progress(len(rows.u[part]))


class NetworkSql(SqlBase):
    def replace_network(
        self,
        program_id: int,
        *,
        source: str,
        rows: NetworkRows,
        area_share: float,
        progress: Progress | None = None,
    ) -> NetworkInfo:
        """Swap in a program's walking network in one transaction (routes never see half)."""
        with self._write() as conn:
            old = conn.execute(
                sa.select(walking_networks.c.version).where(
                    walking_networks.c.program_id == program_id
                )
            ).scalar()
            for table in (network_edges, network_nodes, walking_networks):
                conn.execute(sa.delete(table).where(table.c.program_id == program_id))
            info = NetworkInfo(
                version=int(old or 0) + 1,
                source=source[:200],
                imported_on=today(),
                nodes=len(rows.lon),
                edges=len(rows.u),
                length_km=round(float(rows.length_m.sum()) / 1000.0, 3),
                area_share=round(area_share, 4),
            )
            conn.execute(sa.insert(walking_networks), [{"program_id": program_id, **vars(info)}])
            _insert_nodes(conn, program_id, rows, progress)
            _insert_edges(conn, program_id, rows, progress)
        return info

    def network_info(self, program_id: int) -> NetworkInfo | None:
        w = walking_networks.c
        select = sa.select(
            w.version,
            w.source,
            w.imported_on,
            w.nodes,
            w.edges,
            w.length_km,
            w.area_share,
        ).where(w.program_id == program_id)
        with self.engine.connect() as conn:
            row = conn.execute(select).first()
        return NetworkInfo(*row) if row else None

    def load_network(self, program_id: int) -> tuple[NetworkInfo, NetworkRows] | None:
        with self.engine.connect() as conn:
            info = self.network_info(program_id)
            if info is None:
                return None
            nodes = conn.execute(
                sa.select(network_nodes.c.lon, network_nodes.c.lat)
                .where(network_nodes.c.program_id == program_id)
                .order_by(network_nodes.c.node)
            ).all()
            edges = conn.execute(
                sa.select(network_edges.c.u, network_edges.c.v, network_edges.c.length_m).where(
                    network_edges.c.program_id == program_id
                )
            ).all()
        node_table = np.array(nodes, dtype=np.float64).reshape(-1, 2)
        edge_table = np.array(edges, dtype=np.float64).reshape(-1, 3)
        return info, NetworkRows(
            node_table[:, 0],
            node_table[:, 1],
            edge_table[:, 0].astype(np.int64),
            edge_table[:, 1].astype(np.int64),
            edge_table[:, 2],
        )
