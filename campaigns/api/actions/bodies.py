"""The actions' request bodies, and how bad input is echoed back and recorded.

Every body is strict: a field cm does not know is an error, so a misspelt option is never
silently ignored. Every action but acknowledge carries the reason it is kept with.
"""

from collections.abc import Mapping

from rest_framework import serializers


class StrictBody(serializers.Serializer):
    """A request body: a field cm does not know is an error, never silently ignored."""

    def to_internal_value(self, data):
        unknown = {}
        if isinstance(data, Mapping):
            unknown = {printable(n): ["unknown field"] for n in data if n not in self.fields}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as error:
            raise serializers.ValidationError(unknown | dict(error.detail)) from error
        if unknown:
            raise serializers.ValidationError(unknown)
        return value


class ReasonAction(StrictBody):
    reason = serializers.CharField(
        max_length=500, help_text="Why: kept in the element's history and the audit trail."
    )


class LaunchAction(ReasonAction):
    overrides = serializers.DictField(
        required=False,
        default=dict,
        help_text='BPS settings for this attempt only, e.g. {"requestMemory": 8192}.',
    )

    def validate_overrides(self, value: dict) -> dict:
        if any(not str(key).strip() for key in value):
            raise serializers.ValidationError("keys are BPS setting names, e.g. requestMemory")
        check_text(value)
        return value


class InvalidateAction(ReasonAction):
    purge = serializers.BooleanField(
        default=False,
        help_text="Also delete the RUN collections no other chain needs (admin role).",
    )
    dry_run = serializers.BooleanField(default=False, help_text="Say what; change nothing.")


class AcknowledgeAction(StrictBody):
    """No fields: acknowledging says only who and when."""


class BulkAction(ReasonAction):
    dry_run = serializers.BooleanField(
        default=False, help_text="List what would be done and whether each move is legal now."
    )


class BulkLaunchAction(LaunchAction, BulkAction):
    pass


class BulkInvalidateAction(InvalidateAction):
    pass


def check_text(value) -> None:
    """JSON the database can store: no NUL characters, no unpaired surrogates."""
    if isinstance(value, str) and not _storable(value):
        raise serializers.ValidationError("text may not hold NUL or unpaired surrogates")
    if isinstance(value, Mapping):
        for key, item in value.items():
            check_text(key)
            check_text(item)
    elif isinstance(value, list):
        for item in value:
            check_text(item)


def _storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def printable(name) -> str:
    """A field or filter name as it may be echoed back in an error (and stored in the audit)."""
    text = str(name)
    return text if text.isprintable() else repr(text)


def errors_text(errors: Mapping) -> str:
    """Field errors as one line, for the audit entry of a refused attempt."""
    return "; ".join(
        f"{field}: {' '.join(str(m) for m in messages)}"
        if isinstance(messages, list)
        else f"{field}: {messages}"
        for field, messages in errors.items()
    )
