"""`bulk_index`: feed a provider in batches through an `Indexer`, reporting per-document errors."""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass

from ._types import Indexer, SearchProvider
from .exceptions import InvalidDocumentError, SearchConfigurationError, SearchTypeError

__all__ = ["BulkProgress", "BulkReport", "DocumentFailure", "bulk_index"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DocumentFailure:
    """One entity that was not indexed.

    Attributes:
        position: Its 0-based position in the entities given.
        document_id: The document's id when it is known.
        error: Why: what `Indexer.to_document` raised, or the provider's `InvalidDocumentError`.
    """

    position: int
    document_id: str | None
    error: Exception


@dataclass(frozen=True, slots=True)
class BulkProgress:
    """Where a `bulk_index` run is, passed to ``on_progress`` after each batch."""

    processed: int
    indexed: int
    failed: int
    batches: int


@dataclass(frozen=True, slots=True)
class BulkReport:
    """What a `bulk_index` run did.

    Attributes:
        indexed: Documents written.
        failures: Entities not written, each with its error, in input order.
        batches: Batches sent to the provider.
    """

    indexed: int
    failures: tuple[DocumentFailure, ...]
    batches: int

    @property
    def ok(self) -> bool:
        """Whether every entity was indexed."""
        return not self.failures


type ProgressCallback = Callable[[BulkProgress], object]


async def bulk_index[TEntity, TDocument](
    provider: SearchProvider[TDocument],
    entities: Iterable[TEntity] | AsyncIterable[TEntity],
    indexer: Indexer[TEntity, TDocument],
    *,
    batch_size: int = 500,
    on_progress: ProgressCallback | None = None,
) -> BulkReport:
    """Map ``entities`` to documents and index them in batches of ``batch_size``.

    An entity whose `Indexer.to_document` raises, or whose document the provider rejects with
    `InvalidDocumentError`, is reported in `BulkReport.failures` and the rest go on (a rejected batch
    is retried one document at a time to find the culprits). Any other error (the backend is down)
    propagates: batches before it stay indexed, and the exception's notes say how many documents.

    Args:
        provider: Where to index.
        entities: The domain objects (a sync or async iterable).
        indexer: Maps an entity to its document.
        batch_size: Documents per `SearchProvider.index` call.
        on_progress: Called (and awaited, when it returns an awaitable) after each batch.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        raise SearchTypeError("batch_size", "an int", batch_size)
    if batch_size < 1:
        raise SearchConfigurationError("batch_size", batch_size, "must be at least 1")
    if not callable(getattr(indexer, "to_document", None)):
        raise SearchTypeError("indexer", "an Indexer (with to_document)", indexer)
    if not all(callable(getattr(provider, name, None)) for name in ("index", "delete", "search")):
        raise SearchTypeError("provider", "a search provider (index, delete, search)", provider)
    if on_progress is not None and not callable(on_progress):
        raise SearchTypeError("on_progress", "a callable or None", on_progress)
    if not isinstance(entities, Iterable | AsyncIterable) or isinstance(entities, str | bytes | Mapping):
        raise SearchTypeError("entities", "an iterable or async iterable of entities", entities)
    state = _Run(provider, on_progress)
    batch: list[tuple[int, TDocument]] = []
    async for position, entity in _enumerate(entities):
        try:
            document = indexer.to_document(entity)
        except Exception as exc:  # noqa: BLE001 - reported against the entity, not swallowed
            state.failures.append(DocumentFailure(position, None, exc))
            state.processed += 1
            continue
        batch.append((position, document))
        if len(batch) >= batch_size:
            await state.flush(batch)
            batch = []
    if batch:
        await state.flush(batch)
    state.failures.sort(key=lambda failure: failure.position)
    if state.failures:
        logger.warning("bulk indexing: %d document(s) failed", len(state.failures))
    return BulkReport(indexed=state.indexed, failures=tuple(state.failures), batches=state.batches)


class _Run[TDocument]:
    def __init__(self, provider: SearchProvider[TDocument], on_progress: ProgressCallback | None) -> None:
        self.provider = provider
        self.on_progress = on_progress
        self.failures: list[DocumentFailure] = []
        self.indexed = 0
        self.processed = 0
        self.batches = 0

    async def flush(self, batch: list[tuple[int, TDocument]]) -> None:
        try:
            await self._write([document for _, document in batch])
            self.indexed += len(batch)
        except InvalidDocumentError:
            for position, document in batch:
                try:
                    await self._write([document])
                    self.indexed += 1
                except InvalidDocumentError as exc:
                    self.failures.append(DocumentFailure(position, exc.document_id, exc))
        self.processed += len(batch)
        if self.on_progress is not None:
            outcome = self.on_progress(
                BulkProgress(self.processed, self.indexed, len(self.failures), self.batches)
            )
            if inspect.isawaitable(outcome):
                await outcome

    async def _write(self, documents: list[TDocument]) -> None:
        self.batches += 1
        try:
            await self.provider.index(documents)
        except InvalidDocumentError:
            raise
        except Exception as exc:
            exc.add_note(f"bulk_index: {self.indexed} document(s) were indexed before this error")
            raise


async def _enumerate[T](items: Iterable[T] | AsyncIterable[T]) -> AsyncIterator[tuple[int, T]]:
    position = 0
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield position, item
            position += 1
    elif isinstance(items, Iterable):
        for item in items:
            yield position, item
            position += 1
    else:
        raise SearchTypeError("entities", "an iterable or async iterable", items)
