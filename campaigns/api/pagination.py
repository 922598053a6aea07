"""How API lists are cut into pages: ``?limit=&offset=``, or ``?after=ID`` for long walks.

At Rubin scale two things make a list slow, and both grow with the table:

- **Counting.** An exact ``count(*)`` of a million jobs or two million status changes costs
  50-100 ms on every request. So a list counts at most ``COUNT_LIMIT`` rows and reports
  ``count: null`` beyond (as GitLab's API drops its totals past 10,000). ``next`` is known
  without a count, from one row fetched past the page.
- **Deep offsets.** ``OFFSET n`` reads and throws away n rows (about 0.75 s at a million).
  Offsets stop at ``MAX_OFFSET``; a client that walks a longer list asks for ``?after=ID``:
  the rows whose id is greater, in id order, each page found through the primary key's index
  whatever its depth (keyset pagination).
"""

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.utils.urls import replace_query_param

COUNT_LIMIT = 10_000
MAX_OFFSET = 50_000
MAX_ID = 2**63 - 1  # ids are bigint: a larger one would be a database error, not a 400
ORDER_PARAMS = ("ordering", "sort")  # the API lists' and the page tables' sort parameters


class Pagination(LimitOffsetPagination):
    """``{count, next, previous, results}``; at most ``max_limit`` rows per request, so a
    client cannot ask for a million rows (or their per-row lookups) at once. ``count`` is
    exact up to ``count_limit`` rows and ``null`` for longer lists (narrow them with a
    filter to have them counted)."""

    default_limit = 50
    max_limit = 1000
    count_limit = COUNT_LIMIT
    max_offset = MAX_OFFSET
    after_query_param = "after"

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.limit = self.get_limit(request)
        if self.limit is None:
            return None
        self.after = self.get_after(request)
        if self.after is None:
            self.offset = self.get_offset(request)
            rows = list(queryset[self.offset : self.offset + self.limit + 1])
        else:
            self.offset = 0
            walk = queryset.order_by("pk").filter(pk__gt=self.after)
            rows = list(walk[: self.limit + 1])
        self.has_next = len(rows) > self.limit
        rows = rows[: self.limit]
        self.last_pk = rows[-1].pk if rows else None
        # Counted on every page, even one that holds the whole list: a page costs the same
        # queries whatever the size of the data.
        self.count = self.get_count(queryset)
        self.display_page_controls = self.template is not None and (
            self.has_next or self.offset > 0 or bool(self.after)
        )
        return rows

    def get_offset(self, request) -> int:
        offset = super().get_offset(request)
        if offset > self.max_offset:
            raise ValidationError(
                {
                    self.offset_query_param: [
                        f"At most {self.max_offset:,}. Narrow the list with a filter, or walk "
                        f"it in id order with ?{self.after_query_param}=ID (start at 0; each "
                        "answer's next link carries on)."
                    ]
                }
            )
        return offset

    def get_after(self, request) -> int | None:
        """``?after=``: rows with a greater id, in id order; None when not asked for."""
        value = request.query_params.get(self.after_query_param)
        if value is None:
            return None
        if not value.isdigit() or int(value) > MAX_ID:
            raise ValidationError(
                {self.after_query_param: ["A row id: a whole number, 0 to start."]}
            )
        ordered = [p for p in ORDER_PARAMS if request.query_params.get(p) not in (None, "")]
        if ordered:
            raise ValidationError(
                {
                    self.after_query_param: [
                        f"Rows after an id come in id order: leave out ?{ordered[0]}=."
                    ]
                }
            )
        return int(value)

    def get_count(self, queryset) -> int | None:
        """The number of rows, when at most ``count_limit``; else ``None``. Counts a slice,
        so the database stops after ``count_limit + 1`` rows."""
        counted = queryset[: self.count_limit + 1].count()
        return counted if counted <= self.count_limit else None

    def get_next_link(self):
        if not self.has_next:
            return None
        url = replace_query_param(
            self.request.build_absolute_uri(), self.limit_query_param, self.limit
        )
        if self.after is not None:
            return replace_query_param(url, self.after_query_param, self.last_pk)
        return replace_query_param(url, self.offset_query_param, self.offset + self.limit)

    def get_previous_link(self):
        if self.after is not None:  # a walk goes forward only
            return None
        return super().get_previous_link()

    def get_html_context(self):
        if self.count is None or self.after is not None:  # no page numbers without a count
            return {
                "previous_url": self.get_previous_link(),
                "next_url": self.get_next_link(),
                "page_links": [],
            }
        return super().get_html_context()

    def get_paginated_response_schema(self, schema):
        answer = super().get_paginated_response_schema(schema)
        answer["properties"]["count"] = {
            "type": "integer",
            "nullable": True,
            "example": 123,
            "description": f"The number of rows; null when there are more than {COUNT_LIMIT:,}.",
        }
        return answer

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.offset_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET}
        parameters.append(
            {
                "name": self.after_query_param,
                "required": False,
                "in": "query",
                "description": "Rows whose id is greater than this, in id order (a walk "
                "through a long list: start at 0 and follow `next`). Not with a sort order.",
                "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
            }
        )
        return parameters
