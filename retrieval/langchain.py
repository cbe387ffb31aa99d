"""A LangChain retriever over the memory store, for chains and agents built with langchain_core."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict


class MemoryRetriever(BaseRetriever):
    """`MemoryRetriever(index=MemoryIndex.open(cfg), k=8)`; extra search filters go in `search_kwargs`."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: Any  # retrieval.memory.MemoryIndex (kept loose so importing this needs no store)
    k: int = 8
    search_kwargs: dict = {}

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        hits = self.index.search(query, self.k, **self.search_kwargs)
        return [
            Document(
                page_content=hit.memory.text,
                id=hit.id,
                metadata={
                    "score": hit.score,
                    "source_ids": list(hit.memory.source_ids),
                    "kind": hit.memory.kind,
                    "start": hit.memory.start.isoformat() if hit.memory.start else None,
                    "end": hit.memory.end.isoformat() if hit.memory.end else None,
                    "conversation_id": hit.memory.conversation_id,
                    "participants": list(hit.memory.participants),
                },
            )
            for hit in hits
        ]
