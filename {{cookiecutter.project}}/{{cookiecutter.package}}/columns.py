"""Column types the models share."""

from datetime import UTC, datetime

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator


def utc_now() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A DATETIME that holds UTC: aware datetimes in, aware UTC datetimes out.

    MySQL's DATETIME stores no time zone, and MySQL's TIMESTAMP ends in 2038:
    so the column holds UTC, and this type says so on the way out (the API
    then writes `+00:00`) and refuses a naive datetime on the way in.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value}: pass an aware one, e.g. utc_now()")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)
