"""``Idempotency-Key``: a POST sent again (after a timeout, by a retrying script) is answered,
not done twice.

The first request with a key inserts its row (committed at once, so any repeat sees it), then
acts, then stores its answer. A repeat with the same key and the same request gets that
answer again, with ``Idempotent-Replayed: true``; with the same key but another request
(method, path with query string, or JSON body), 422. A repeat that arrives while the first is
still running waits up to ``WAIT_SECONDS`` for its answer, then gets 409 "in progress".
Server errors (5xx) are not stored: the key is freed and the request may be sent again.

Keys are per user and live ``CM_IDEMPOTENCY_HOURS``; older rows are ignored, and deleted by
``purge_expired()`` (to be run periodically).
"""

import functools
import hashlib
import json
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers, status
from rest_framework.response import Response

from campaigns.models import IdempotentRequest

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
# Answer headers worth replaying (a 202's link to the queued work).
KEPT_HEADERS = ("Location",)
# A repeat usually comes from a client that timed out: wait for the first answer a little.
WAIT_SECONDS = 5.0
POLL_SECONDS = 0.05

PARAMETER = OpenApiParameter(
    HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description=(
        "Makes a repeat of this POST safe: the same key with the same request replays the "
        f"first answer (header {REPLAYED}: true); with another request, 422; while the first "
        "is still running, 409. Keys are per user and expire after CM_IDEMPOTENCY_HOURS."
    ),
)


def purge_expired(now: datetime | None = None) -> int:
    """Delete the keys older than ``CM_IDEMPOTENCY_HOURS``; returns how many."""
    deleted, _ = IdempotentRequest.objects.filter(created_at__lt=_cutoff(now)).delete()
    return deleted


def idempotent(handler):
    """Decorate an API view's ``post`` so that an ``Idempotency-Key`` makes repeats safe."""

    @functools.wraps(handler)
    def post(view, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return handler(view, request, *args, **kwargs)
        if not key.strip() or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            message = f"1-{MAX_KEY_LENGTH} printable characters"
            raise serializers.ValidationError({HEADER: [message]})
        claim = _claim(request, key, _digest(request))
        if isinstance(claim, Response):
            return claim
        return _run(view, handler, request, args, kwargs, claim)

    return post


def _digest(request) -> str:
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    text = f"{request.method}\n{request.get_full_path()}\n{body}"
    return hashlib.sha256(text.encode()).hexdigest()


def _cutoff(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(hours=settings.CM_IDEMPOTENCY_HOURS)


def _claim(request, key: str, digest: str) -> IdempotentRequest | Response:
    """Our new row, to act under; or the answer for a repeat."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        try:
            with transaction.atomic():
                return IdempotentRequest.objects.create(
                    user=request.user,
                    key=key,
                    method=request.method,
                    path=request.get_full_path()[:2000],
                    request_hash=digest,
                )
        except IntegrityError:
            pass  # a first request with this key exists (or existed a moment ago)
        first = _wait_for(request.user, key, digest, deadline)
        if first is not None:
            return _answer(first, digest)
        if time.monotonic() >= deadline:
            return _in_progress()


def _wait_for(user, key: str, digest: str, deadline: float) -> IdempotentRequest | None:
    """The first request's row once it has an answer (or is another request, or the wait is
    over); None if it is gone (expired, or freed after a server error) so we may claim it."""
    while True:
        first = IdempotentRequest.objects.filter(user=user, key=key).first()
        if first is None:
            return None
        if first.created_at < _cutoff():
            IdempotentRequest.objects.filter(pk=first.pk, created_at=first.created_at).delete()
            return None
        if first.completed_at or first.request_hash != digest or time.monotonic() >= deadline:
            return first
        time.sleep(POLL_SECONDS)


def _answer(first: IdempotentRequest, digest: str) -> Response:
    if first.request_hash != digest:
        return Response(
            {"detail": f"this {HEADER} was used for a different request: use a new key"},
            status=status.HTTP_422_UNPROCESSABLE_ENTITY,
        )
    if first.completed_at is None or first.response_status is None:
        return _in_progress()
    return Response(
        first.response_body,
        status=first.response_status,
        headers={**first.response_headers, REPLAYED: "true"},
    )


def _in_progress() -> Response:
    return Response(
        {"detail": f"a request with this {HEADER} is still in progress: ask again shortly"},
        status=status.HTTP_409_CONFLICT,
        headers={"Retry-After": "1"},
    )


def _run(view, handler, request, args, kwargs, claim: IdempotentRequest) -> Response:
    try:
        response = handler(view, request, *args, **kwargs)
    except Exception as error:
        try:
            response = view.handle_exception(error)  # 4xx answers are answers too
        except Exception:
            IdempotentRequest.objects.filter(pk=claim.pk).delete()
            raise
    if response.status_code >= 500 or not _store(claim, response):
        IdempotentRequest.objects.filter(pk=claim.pk).delete()
    return response


def _store(claim: IdempotentRequest, response: Response) -> bool:
    """Keep the answer for repeats; False if the database refuses it (say, a NUL character
    echoed from a bad request), in which case the key is freed instead."""
    try:
        with transaction.atomic():
            IdempotentRequest.objects.filter(pk=claim.pk).update(
                response_status=response.status_code,
                response_body=response.data,
                response_headers={h: response[h] for h in KEPT_HEADERS if response.has_header(h)},
                completed_at=timezone.now(),
            )
    except DatabaseError:
        return False
    return True
