"""How API lists are cut into pages: ``?limit=&offset=``, 50 rows by default."""

from rest_framework.pagination import LimitOffsetPagination


class Pagination(LimitOffsetPagination):
    """``{count, next, previous, results}``; at most ``max_limit`` rows per request, so a
    client cannot ask for a million rows (or their per-row lookups) at once."""

    default_limit = 50
    max_limit = 1000
