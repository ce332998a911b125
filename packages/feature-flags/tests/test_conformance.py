"""Every source and sink passes buttress-testing's conformance suites; Redis and PostgreSQL for real."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from buttress.feature_flags import (
    AuditAction,
    FileFlagSource,
    FlagAuditEvent,
    FlagDefinition,
    FlagSet,
    MemoryAuditSink,
    MemoryFlagSource,
    PostgresAuditSink,
    PostgresFlagSource,
    RedisFlagSource,
    Strategy,
    flag_set_to_dict,
)
from buttress.testing import AuditSinkContract, FlagSourceContract, PostgresSchema


def _flag(key: str, *, enabled: bool = True, description: str | None = None) -> FlagDefinition:
    return FlagDefinition(key, enabled=enabled, description=description, strategies=(Strategy("default"),))


class _Flags:
    def make_flag(self, key: str, *, enabled: bool = True, description: str | None = None) -> Any:
        return _flag(key, enabled=enabled, description=description)


class TestMemoryFlagSource(_Flags, FlagSourceContract):
    async def make_source(self, flags: Sequence[Any]) -> Any:
        return MemoryFlagSource(flags)


class TestFileFlagSource(_Flags, FlagSourceContract):
    writable = False

    @pytest.fixture(autouse=True)
    def _dir(self, tmp_path: Path) -> None:
        self.dir = tmp_path

    async def make_source(self, flags: Sequence[Any]) -> Any:
        path = self.dir / f"{uuid.uuid4().hex}.json"
        flag_set = FlagSet(flags={flag.key: flag for flag in flags})
        path.write_text(json.dumps(flag_set_to_dict(flag_set)), encoding="utf-8")
        return FileFlagSource(path)


class TestYamlFileFlagSource(TestFileFlagSource):
    async def make_source(self, flags: Sequence[Any]) -> Any:
        path = self.dir / f"{uuid.uuid4().hex}.yaml"
        path.write_text(
            yaml.safe_dump(flag_set_to_dict(FlagSet(flags={f.key: f for f in flags}))), encoding="utf-8"
        )
        return FileFlagSource(path)


@pytest.mark.redis
class TestRedisFlagSource(_Flags, FlagSourceContract):
    cluster = False

    @pytest.fixture(autouse=True)
    def _redis(self, redis_url: str, redis_prefix: str) -> None:
        self.url, self.prefix = redis_url, redis_prefix

    async def make_source(self, flags: Sequence[Any]) -> Any:
        source = RedisFlagSource.from_url(
            self.url, prefix=f"{self.prefix}{uuid.uuid4().hex[:6]}:", cluster=self.cluster
        )
        for flag in flags:
            await source.put(flag)
        return source


@pytest.mark.redis
class TestRedisFlagSourceOnCluster(TestRedisFlagSource):
    """The same contract on the 3-primary Redis Cluster: a prefix's names share one hash tag."""

    cluster = True

    @pytest.fixture(autouse=True)
    def _redis(self, redis_cluster_url: str, redis_prefix: str) -> None:
        self.url, self.prefix = redis_cluster_url, redis_prefix


@pytest.mark.postgres
class TestPostgresFlagSource(_Flags, FlagSourceContract):
    @pytest.fixture(autouse=True)
    def _postgres(self, postgres_pool: Any, postgres_table: str) -> None:
        self.pool, self.table = postgres_pool, postgres_table

    async def make_source(self, flags: Sequence[Any]) -> Any:
        table = f"{self.table}_{uuid.uuid4().hex[:4]}"
        source = PostgresFlagSource(pool=self.pool, table=table)
        for flag in flags:
            await source.put(flag)
        return source


class _Events:
    def make_flag(self, key: str, *, enabled: bool = True) -> Any:
        return _flag(key, enabled=enabled)

    def make_event(
        self, *, actor: str, action: str, flag_key: str, before: Any, after: Any, timestamp: datetime
    ) -> Any:
        return FlagAuditEvent(actor, AuditAction(action), flag_key, before, after, timestamp)


class TestMemoryAuditSink(_Events, AuditSinkContract):
    async def make_sink(self) -> Any:
        return MemoryAuditSink()


@pytest.mark.postgres
class TestPostgresAuditSink(_Events, AuditSinkContract):
    @pytest.fixture(autouse=True)
    def _postgres(self, postgres_pool: Any, postgres_table: str) -> None:
        self.pool, self.table = postgres_pool, postgres_table

    async def make_sink(self) -> Any:
        return PostgresAuditSink(pool=self.pool, table=self.table)


@pytest.mark.postgres
class TestOwnedPostgresFlagSource(_Flags, FlagSourceContract):
    """`connect` opens a pool of its own, which `aclose` closes."""

    @pytest.fixture(autouse=True)
    def _postgres(self, postgres_schema: PostgresSchema, postgres_table: str) -> None:
        self.schema, self.table = postgres_schema, postgres_table

    async def make_source(self, flags: Sequence[Any]) -> Any:
        source = await PostgresFlagSource.connect(
            self.schema.dsn,
            table=f"{self.table}_{uuid.uuid4().hex[:4]}",
            min_size=1,
            max_size=4,
            server_settings=self.schema.server_settings,
        )
        for flag in flags:
            await source.put(flag)
        return source
