"""The mapped classes the SQLAlchemy tests use, on the tables `conftest` creates."""

from __future__ import annotations

from sqlalchemy import ForeignKey
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Doc(Base):
    __tablename__ = "docs"
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[str]
    body: Mapped[str]


class Parent(Base):
    __tablename__ = "parents"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    tenant_id: Mapped[str]
    name: Mapped[str]
    kids: Mapped[list[Kid]] = relationship(back_populates="parent", order_by="Kid.id")


class Kid(Base):
    __tablename__ = "kids"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    tenant_id: Mapped[str]
    parent_id: Mapped[int] = mapped_column(ForeignKey("parents.id"))
    label: Mapped[str]
    parent: Mapped[Parent] = relationship(back_populates="kids")
