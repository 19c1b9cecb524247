"""The example resource served by the JSON API."""

from datetime import datetime

from sqlalchemy import String, func
from sqlalchemy.orm import Mapped, mapped_column

from ..columns import UTCDateTime, utc_now
from ..extensions import db

NAME_MAX_LENGTH = 120
DESCRIPTION_MAX_LENGTH = 1000


class Item(db.Model):
    __tablename__ = "items"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH), index=True)
    description: Mapped[str] = mapped_column(String(DESCRIPTION_MAX_LENGTH), default="")
    # Set by the app, in UTC; the server default serves rows inserted by hand.
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utc_now, server_default=func.now()
    )
