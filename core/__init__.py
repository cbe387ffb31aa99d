"""Twin: a person's AI twin from their own chats, posts and articles.

This package is the repository's core/ folder (records, config, errors, corpus, prompt); each
pipeline stage is a subpackage mapped from its own top-level folder: twin.ingest, twin.finetune,
twin.retrieval, twin.service, twin.eval. See docs/architecture.md for what may import what.
"""
