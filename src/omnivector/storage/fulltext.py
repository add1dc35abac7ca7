"""Full-text queries for Lance: the simple query syntax translated into Lance's structured
queries (quoted phrases, ``+must`` and ``-must_not`` terms, per-column boosts)."""

from __future__ import annotations

import lance.query as lq

from omnivector.core.errors import InvalidInputError
from omnivector.core.query import TextQuery

__all__ = ["build_text_query", "parse_text"]


def build_text_query(query: TextQuery) -> lq.FullTextQuery:
    """Translate the simple query syntax into Lance's structured full-text queries."""
    phrases, must, must_not, terms = parse_text(query.text)
    columns = list(query.columns)
    boosts = [float(query.columns[c]) for c in columns]

    def match(text: str) -> lq.FullTextQuery:
        if len(columns) == 1:
            return lq.MatchQuery(text, columns[0], boost=boosts[0])
        return lq.MultiMatchQuery(text, columns, boosts=boosts)

    def phrase(text: str) -> lq.FullTextQuery:
        if len(columns) == 1:
            return lq.PhraseQuery(text, columns[0])
        return lq.BooleanQuery([(lq.Occur.SHOULD, lq.PhraseQuery(text, c)) for c in columns])

    clauses: list[tuple[lq.Occur, lq.FullTextQuery]] = []
    clauses += [(lq.Occur.MUST, phrase(p)) for p in phrases]
    clauses += [(lq.Occur.MUST, match(t)) for t in must]
    clauses += [(lq.Occur.MUST_NOT, match(t)) for t in must_not]
    if terms:
        clauses.append((lq.Occur.SHOULD if clauses else lq.Occur.MUST, match(" ".join(terms))))
    if not clauses:
        raise InvalidInputError("the text query has no words to search for")
    if len(clauses) == 1 and clauses[0][0] == lq.Occur.MUST:
        return clauses[0][1]
    if all(occur == lq.Occur.MUST_NOT for occur, _ in clauses):
        raise InvalidInputError("a text query needs at least one word that is not excluded")
    return lq.BooleanQuery(clauses)


def parse_text(text: str) -> tuple[list[str], list[str], list[str], list[str]]:
    """``(phrases, +must terms, -must_not terms, other terms)`` of a text query."""
    phrases: list[str] = []
    parts = text.split('"')
    plain: list[str] = []
    for position, part in enumerate(parts):
        if position % 2 == 1 and position < len(parts) - 1:
            if part.strip():
                phrases.append(part.strip())
        else:
            plain.append(part)
    must: list[str] = []
    must_not: list[str] = []
    terms: list[str] = []
    for word in " ".join(plain).split():
        if word.startswith("+") and len(word) > 1:
            must.append(word[1:])
        elif word.startswith("-") and len(word) > 1:
            must_not.append(word[1:])
        else:
            terms.append(word)
    return phrases, must, must_not, terms
