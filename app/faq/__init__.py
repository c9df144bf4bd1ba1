"""The standard Q&A library (FAQ override): curated question → approved answer per tenant and collection.

`FaqService` (service.py) is the entry point: CRUD with versions, bulk import (importing.py), and `match`, which
the answer service calls before retrieval (matcher.py). Entries live in the metadata database (store.py).
"""

from app.faq.errors import FaqImportError
from app.faq.matcher import FaqMatch, FaqMatcher
from app.faq.service import FaqService
from app.faq.store import SqlFaqStore

__all__ = ["FaqImportError", "FaqMatch", "FaqMatcher", "FaqService", "SqlFaqStore"]
