"""Discord's own rules for what a bot may send, with Discord-style error bodies.

Real Discord answers a bad request with HTTP 400 and a body like
`{"code": 50035, "message": "Invalid Form Body", "errors": {"0": {"name": {"_errors":
[{"code": ..., "message": ...}]}}}}`; discord.py turns that into HTTPException (and
`tree.sync()` into CommandSyncFailure). Limits are from the API documentation:
application commands, message create, embed limits, message components.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from .payloads import JSON, MessageFlag

Path = tuple[str | int, ...]

# Application command option types.
SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = range(3, 12)
OPTION_TYPES = set(range(1, 12))
CHAT_INPUT, USER_COMMAND, MESSAGE_COMMAND = 1, 2, 3

MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_EMBED_TOTAL = 6000
EMBED_TEXT_LIMITS = {"title": 256, "description": 4096}
MAX_FIELDS = 25
MAX_ACTION_ROWS = 5
MAX_ROW_BUTTONS = 5
MAX_CUSTOM_ID = 100
MAX_BUTTON_LABEL = 80


@dataclass(frozen=True)
class FormError:
    path: Path
    code: str
    message: str


def form_error_body(errors: Sequence[FormError]) -> JSON:
    """Nest errors by path the way Discord does."""
    root: dict[str, Any] = {}
    for error in errors:
        node = root
        for part in error.path:
            node = node.setdefault(str(part), {})
        node.setdefault("_errors", []).append({"code": error.code, "message": error.message})
    return {"code": 50035, "errors": root, "message": "Invalid Form Body"}


def _length_error(path: Path, value: Any, low: int, high: int) -> FormError | None:
    if not isinstance(value, str):
        return FormError(path, "BASE_TYPE_REQUIRED", "This field is required")
    if not low <= len(value) <= high:
        return FormError(path, "BASE_TYPE_BAD_LENGTH",
                         f"Must be between {low} and {high} in length.")
    return None


def is_valid_chat_input_name(name: Any) -> bool:
    """`^[-_\\p{L}\\p{N}]{1,32}$` with the lowercase variant of every letter that has one."""
    return (
        isinstance(name, str)
        and 1 <= len(name) <= 32
        and all(ch in "-_" or unicodedata.category(ch)[0] in "LN" for ch in name)
        and name == name.lower()
    )


# --- application commands ------------------------------------------------------------------


def validate_commands(commands: Any) -> list[FormError]:
    """Rules Discord applies to a bulk overwrite (PUT .../commands)."""
    if not isinstance(commands, list):
        return [FormError((), "BASE_TYPE_ARRAY", "Must be an array.")]
    errors: list[FormError] = []
    seen: set[tuple[int, str]] = set()
    for index, command in enumerate(commands):
        if not isinstance(command, dict):
            errors.append(FormError((index,), "DICT_TYPE_CONVERT", "Only dictionaries may be used"))
            continue
        errors += _validate_command(command, (index,))
        key = (command.get("type", CHAT_INPUT), command.get("name"))
        if key in seen:
            errors.append(FormError((index, "name"), "APPLICATION_COMMANDS_DUPLICATE_NAME",
                                    f"Application command names must be unique: {key[1]}"))
        seen.add(key)
    chat_inputs = sum(1 for c in commands if isinstance(c, dict) and c.get("type", 1) == 1)
    if chat_inputs > 100:
        errors.append(FormError((), "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length."))
    return errors


def _command_text_size(command: JSON) -> int:
    """Discord caps name + description + every option's name, description and choices."""
    size = len(command.get("name") or "") + len(command.get("description") or "")
    for option in command.get("options") or []:
        if isinstance(option, dict):
            size += _command_text_size(option)
            for choice in option.get("choices") or []:
                if isinstance(choice, dict):
                    size += len(str(choice.get("name", ""))) + len(str(choice.get("value", "")))
    return size


def _validate_command(command: JSON, path: Path) -> list[FormError]:
    errors: list[FormError] = []
    kind = command.get("type", CHAT_INPUT)
    name = command.get("name")
    if kind not in (CHAT_INPUT, USER_COMMAND, MESSAGE_COMMAND, 4):
        errors.append(FormError((*path, "type"), "BASE_TYPE_CHOICES", "Value must be one of "
                                "{1, 2, 3, 4}."))
    if kind == CHAT_INPUT:
        if not is_valid_chat_input_name(name):
            errors.append(FormError((*path, "name"), "APPLICATION_COMMAND_INVALID_NAME",
                                    "Command name is invalid"))
        if error := _length_error((*path, "description"), command.get("description"), 1, 100):
            errors.append(error)
        errors += _validate_options(command.get("options") or [], (*path, "options"),
                                    parent=None)
    else:
        if error := _length_error((*path, "name"), name, 1, 32):
            errors.append(error)
        if command.get("description"):
            errors.append(FormError((*path, "description"),
                                    "APPLICATION_COMMAND_INVALID_DESCRIPTION",
                                    "Context menu commands cannot have description"))
        if command.get("options"):
            errors.append(FormError((*path, "options"), "APPLICATION_COMMAND_OPTIONS_INVALID",
                                    "Context menu commands cannot have options"))
    permissions = command.get("default_member_permissions")
    # Documented as a string; Discord also takes an integer (discord.py sends one).
    if permissions is not None and not str(permissions).isdigit():
        errors.append(FormError((*path, "default_member_permissions"), "NUMBER_TYPE_COERCE",
                                f"Value \"{permissions}\" is not snowflake."))
    if _command_text_size(command) > 4000:
        errors.append(FormError(path, "APPLICATION_COMMAND_TOO_LARGE",
                                "Command exceeds maximum size (4000)"))
    return errors


def _validate_options(options: Any, path: Path, *, parent: int | None) -> list[FormError]:
    if not isinstance(options, list):
        return [FormError(path, "BASE_TYPE_ARRAY", "Must be an array.")]
    errors: list[FormError] = []
    if len(options) > 25:
        errors.append(FormError(path, "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."))
    types = [o.get("type") for o in options if isinstance(o, dict)]
    nested = [t in (SUB_COMMAND, SUB_COMMAND_GROUP) for t in types]
    if any(nested) and not all(nested):
        errors.append(FormError(path, "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
                                "Sub-command and sub-command group option types are mutually "
                                "exclusive to all other types"))
    names: set[str] = set()
    seen_optional = False
    for index, option in enumerate(options):
        here = (*path, index)
        if not isinstance(option, dict):
            errors.append(FormError(here, "DICT_TYPE_CONVERT", "Only dictionaries may be used"))
            continue
        kind = option.get("type")
        if kind not in OPTION_TYPES:
            errors.append(FormError((*here, "type"), "BASE_TYPE_CHOICES",
                                    "Value must be one of {1, 2, ..., 11}."))
            continue
        allowed = {None: OPTION_TYPES, SUB_COMMAND_GROUP: {SUB_COMMAND}}.get(
            parent, OPTION_TYPES - {SUB_COMMAND, SUB_COMMAND_GROUP})
        if kind not in allowed:
            errors.append(FormError((*here, "type"), "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
                                    "Invalid option type for this level"))
        if not is_valid_chat_input_name(option.get("name")):
            errors.append(FormError((*here, "name"), "APPLICATION_COMMAND_INVALID_NAME",
                                    "Command name is invalid"))
        elif option["name"] in names:
            errors.append(FormError((*here, "name"),
                                    "APPLICATION_COMMAND_OPTION_NAME_ALREADY_EXISTS",
                                    "Option names must be unique"))
        names.add(str(option.get("name")))
        if error := _length_error((*here, "description"), option.get("description"), 1, 100):
            errors.append(error)
        if kind in (SUB_COMMAND, SUB_COMMAND_GROUP):
            errors += _validate_options(option.get("options") or [], (*here, "options"),
                                        parent=kind)
            continue
        if option.get("required"):
            if seen_optional:
                errors.append(FormError((*here, "required"),
                                        "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                                        "Required options must be placed before non-required "
                                        "options"))
        else:
            seen_optional = True
        errors += _validate_option_limits(option, here)
    return errors


def _validate_option_limits(option: JSON, path: Path) -> list[FormError]:
    errors: list[FormError] = []
    kind = option["type"]
    choices = option.get("choices")
    if choices:
        if kind not in (STRING, INTEGER, NUMBER):
            errors.append(FormError((*path, "choices"),
                                    "APPLICATION_COMMAND_OPTION_CHOICES_INVALID",
                                    "Choices are only allowed for string, integer and number"))
        if option.get("autocomplete"):
            errors.append(FormError((*path, "autocomplete"),
                                    "APPLICATION_COMMAND_AUTOCOMPLETE_CHOICES_EXCLUSIVE",
                                    "Autocomplete and choices are mutually exclusive"))
        if len(choices) > 25:
            errors.append(FormError((*path, "choices"), "BASE_TYPE_MAX_LENGTH",
                                    "Must be 25 or fewer in length."))
        for number, choice in enumerate(choices):
            where = (*path, "choices", number)
            if error := _length_error((*where, "name"), choice.get("name"), 1, 100):
                errors.append(error)
            value = choice.get("value")
            expected = {STRING: str, INTEGER: int, NUMBER: (int, float)}.get(kind, object)
            if not isinstance(value, expected) or isinstance(value, bool):
                errors.append(FormError((*where, "value"), "BASE_TYPE_CHOICES",
                                        "Choice value type does not match the option type"))
            elif kind == STRING and not 1 <= len(value) <= 100:
                errors.append(FormError((*where, "value"), "BASE_TYPE_BAD_LENGTH",
                                        "Must be between 1 and 100 in length."))
    for key, low, high in (("min_length", 0, 6000), ("max_length", 1, 6000)):
        value = option.get(key)
        if value is not None and (kind != STRING or not isinstance(value, int)
                                  or not low <= value <= high):
            errors.append(FormError((*path, key), "NUMBER_TYPE_MAX",
                                    f"{key} must be between {low} and {high} on a string"))
    for key in ("min_value", "max_value"):
        if option.get(key) is not None and kind not in (INTEGER, NUMBER):
            errors.append(FormError((*path, key), "APPLICATION_COMMAND_OPTION_INVALID",
                                    f"{key} is only allowed for integer and number"))
    return errors


# --- messages ------------------------------------------------------------------------------


def _is_url(value: Any, *, schemes: tuple[str, ...] = ("http", "https", "attachment")) -> bool:
    if not isinstance(value, str):
        return False
    parsed = urlparse(value)
    return parsed.scheme in schemes and bool(parsed.netloc)


def _embed_errors(embed: Any, path: Path) -> tuple[list[FormError], int]:
    if not isinstance(embed, dict):
        return [FormError(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used")], 0
    errors: list[FormError] = []
    size = 0
    for key, limit in EMBED_TEXT_LIMITS.items():
        text = embed.get(key)
        if text is not None:
            size += len(str(text))
            if len(str(text)) > limit:
                errors.append(FormError((*path, key), "BASE_TYPE_MAX_LENGTH",
                                        f"Must be {limit} or fewer in length."))
    for key, text_key, limit in (("footer", "text", 2048), ("author", "name", 256)):
        part = embed.get(key)
        if isinstance(part, dict) and part.get(text_key) is not None:
            text = str(part[text_key])
            size += len(text)
            if len(text) > limit:
                errors.append(FormError((*path, key, text_key), "BASE_TYPE_MAX_LENGTH",
                                        f"Must be {limit} or fewer in length."))
    fields = embed.get("fields") or []
    if len(fields) > MAX_FIELDS:
        errors.append(FormError((*path, "fields"), "BASE_TYPE_MAX_LENGTH",
                                f"Must be {MAX_FIELDS} or fewer in length."))
    for index, embed_field in enumerate(fields):
        for key, limit in (("name", 256), ("value", 1024)):
            value = embed_field.get(key) if isinstance(embed_field, dict) else None
            if value is None or str(value) == "":
                errors.append(FormError((*path, "fields", index, key), "BASE_TYPE_REQUIRED",
                                        "This field is required"))
                continue
            size += len(str(value))
            if len(str(value)) > limit:
                errors.append(FormError((*path, "fields", index, key), "BASE_TYPE_MAX_LENGTH",
                                        f"Must be {limit} or fewer in length."))
    urls = [("url",), ("author", "url"), ("image", "url"), ("thumbnail", "url")]
    for keys in urls:
        node: Any = embed
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
        if node is not None and not _is_url(node):
            errors.append(FormError(path + keys, "URL_TYPE_INVALID_URL", "Not a well formed URL."))
    return errors, size


def _component_errors(components: Any, path: Path, flags: int) -> list[FormError]:
    if not isinstance(components, list):
        return [FormError(path, "BASE_TYPE_ARRAY", "Must be an array.")]
    if flags & MessageFlag.IS_COMPONENTS_V2:
        return []  # layout components: not checked by this fake
    errors: list[FormError] = []
    if len(components) > MAX_ACTION_ROWS:
        errors.append(FormError(path, "BASE_TYPE_MAX_LENGTH",
                                f"Must be {MAX_ACTION_ROWS} or fewer in length."))
    custom_ids: set[str] = set()
    for row_index, row in enumerate(components):
        here = (*path, row_index)
        if not isinstance(row, dict) or row.get("type") != 1:
            errors.append(FormError((*here, "type"), "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                                    "Top-level components must be action rows"))
            continue
        children = row.get("components") or []
        if not 1 <= len(children) <= MAX_ROW_BUTTONS:
            errors.append(FormError((*here, "components"), "BASE_TYPE_BAD_LENGTH",
                                    f"Must be between 1 and {MAX_ROW_BUTTONS} in length."))
        has_select = any(child.get("type") in (3, 5, 6, 7, 8) for child in children)
        if has_select and len(children) > 1:
            errors.append(FormError((*here, "components"), "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                                    "The specified component exceeds the maximum width"))
        for child_index, child in enumerate(children):
            where = (*here, "components", child_index)
            custom_id = child.get("custom_id")
            if child.get("type") == 2 and child.get("style") == 5:
                if not _is_url(child.get("url"), schemes=("http", "https", "discord")):
                    errors.append(FormError((*where, "url"), "URL_TYPE_INVALID_URL",
                                            "Not a well formed URL."))
            elif child.get("type") == 2 and child.get("style") == 6:
                pass  # premium button: sku_id, no custom_id
            elif bad_id := _length_error((*where, "custom_id"), custom_id, 1, MAX_CUSTOM_ID):
                errors.append(bad_id)
            elif custom_id in custom_ids:
                errors.append(FormError((*where, "custom_id"), "COMPONENT_CUSTOM_ID_DUPLICATED",
                                        "Component custom id cannot be duplicated"))
            if isinstance(custom_id, str):
                custom_ids.add(custom_id)
            label = child.get("label")
            if child.get("type") == 2 and label is not None and len(label) > MAX_BUTTON_LABEL:
                errors.append(FormError((*where, "label"), "BASE_TYPE_MAX_LENGTH",
                                        f"Must be {MAX_BUTTON_LABEL} or fewer in length."))
            if child.get("type") == 3 and not 1 <= len(child.get("options") or []) <= 25:
                errors.append(FormError((*where, "options"), "BASE_TYPE_BAD_LENGTH",
                                        "Must be between 1 and 25 in length."))
    return errors


def validate_message(body: JSON, *, has_files: bool = False, partial: bool = False
                     ) -> tuple[int, JSON] | None:
    """None when Discord would accept the message, else (status, error body).

    partial=True is an edit: missing keys keep their old values, so emptiness is not checked.
    """
    errors: list[FormError] = []
    content = body.get("content")
    if content is not None:
        if not isinstance(content, str):
            errors.append(FormError(("content",), "BASE_TYPE_STRING", "Must be a string."))
        elif len(content) > MAX_CONTENT:
            errors.append(FormError(("content",), "BASE_TYPE_MAX_LENGTH",
                                    f"Must be {MAX_CONTENT} or fewer in length."))
    embeds = body.get("embeds") or []
    if len(embeds) > MAX_EMBEDS:
        errors.append(FormError(("embeds",), "BASE_TYPE_MAX_LENGTH",
                                f"Must be {MAX_EMBEDS} or fewer in length."))
    total = 0
    for index, embed in enumerate(embeds):
        embed_errors, size = _embed_errors(embed, ("embeds", index))
        errors += embed_errors
        total += size
    if total > MAX_EMBED_TOTAL:
        errors.append(FormError(("embeds",), "MAX_EMBED_SIZE_EXCEEDED",
                                f"Embed size exceeds maximum size of {MAX_EMBED_TOTAL}"))
    flags = int(body.get("flags") or 0)
    if body.get("components") is not None:
        errors += _component_errors(body["components"], ("components",), flags)
    allowed = body.get("allowed_mentions")
    if isinstance(allowed, dict):
        parse = allowed.get("parse") or []
        if not set(parse) <= {"users", "roles", "everyone"}:
            errors.append(FormError(("allowed_mentions", "parse"), "BASE_TYPE_CHOICES",
                                    "Value must be one of ('roles', 'users', 'everyone')."))
        for kind in ("users", "roles"):
            if kind in parse and allowed.get(kind):
                errors.append(FormError(("allowed_mentions", "parse"),
                                        "ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                                        f"parse:[\"{kind}\"] and {kind}: [ids...] are mutually "
                                        "exclusive."))
    if errors:
        return 400, form_error_body(errors)
    is_empty = not (content or embeds or body.get("components") or has_files
                    or body.get("sticker_ids") or body.get("poll"))
    if not partial and is_empty:
        return 400, {"code": 50006, "message": "Cannot send an empty message"}
    return None
