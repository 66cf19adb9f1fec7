"""Peewee models of the gateway and the queries on them."""

from models.base import check_database, database, open_database, utcnow
from models.schema import SCHEMA_VERSION, migrate

__all__ = [
    "SCHEMA_VERSION",
    "check_database",
    "database",
    "migrate",
    "open_database",
    "utcnow",
]
