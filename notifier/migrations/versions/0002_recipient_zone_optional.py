"""A recipient's time zone may be unknown (NULL): the reminder's zone is used then, never a
silent UTC default. Existing rows keep their value.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("recipients") as batch:
        batch.alter_column(
            "time_zone", existing_type=sa.String(length=64), nullable=True, server_default=None
        )


def downgrade() -> None:
    op.execute("UPDATE recipients SET time_zone = 'UTC' WHERE time_zone IS NULL")
    with op.batch_alter_table("recipients") as batch:
        batch.alter_column("time_zone", existing_type=sa.String(length=64), nullable=False)
