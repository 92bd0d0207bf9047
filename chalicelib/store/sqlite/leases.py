"""SQLite adapter of `Leases`: one row per (pool, holder) with its expiry."""

from __future__ import annotations

import sqlite3

from chalicelib.errors import dependency_errors
from chalicelib.store.base import Leases
from chalicelib.store.sqlite.database import SqliteDatabase


@dependency_errors("database", sqlite3.Error)
class SqliteLeases(SqliteDatabase, Leases):
    def acquire_lease(self, pool: str, holder: str, expires_at: float, now: float) -> int:
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO leases (pool, holder, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (pool, holder) DO UPDATE SET expires_at = excluded.expires_at",
                (pool, holder, expires_at),
            )
            conn.execute(
                "INSERT OR IGNORE INTO lease_starts (pool, holder, acquired_at) VALUES (?, ?, ?)",
                (pool, holder, now),
            )
            return self._count(conn, pool, now)

    def lease_acquired_at(self, pool: str, holder: str) -> float | None:
        row = (
            self._conn()
            .execute(
                "SELECT s.acquired_at FROM lease_starts s JOIN leases l "
                "ON l.pool = s.pool AND l.holder = s.holder WHERE s.pool = ? AND s.holder = ?",
                (pool, holder),
            )
            .fetchone()
        )
        return None if row is None else float(row[0])

    def release_lease(self, pool: str, holder: str, now: float) -> int:
        with self._tx() as conn:
            conn.execute("DELETE FROM leases WHERE pool = ? AND holder = ?", (pool, holder))
            # Expired leases of crashed executions are dropped here too.
            conn.execute("DELETE FROM leases WHERE pool = ? AND expires_at <= ?", (pool, now))
            conn.execute(
                "DELETE FROM lease_starts WHERE pool = ? AND NOT EXISTS (SELECT 1 FROM leases l "
                "WHERE l.pool = lease_starts.pool AND l.holder = lease_starts.holder)",
                (pool,),
            )
            return self._count(conn, pool, now)

    def live_leases(self, pool: str, now: float) -> int:
        return self._count(self._conn(), pool, now)

    def reset_leases(self, pool: str) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM leases WHERE pool = ?", (pool,))
            conn.execute("DELETE FROM lease_starts WHERE pool = ?", (pool,))

    @staticmethod
    def _count(conn: sqlite3.Connection, pool: str, now: float) -> int:
        row = conn.execute(
            "SELECT COUNT(*) FROM leases WHERE pool = ? AND expires_at > ?", (pool, now)
        ).fetchone()
        return int(row[0])
