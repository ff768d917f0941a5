"""LINE's contract: what the Messaging API accepts from the bot, and what LINE's webhook sends.

Three checks, each reporting problems prefixed with its name:

- ``limits``: what LINE documents and neither of the two below encodes: text 5,000 UTF-16
  units, labels 20, displayText 300, altText 400, URI schemes and length, no empty text, a label
  wherever LINE shows one, quick-reply items of type ``action``.
- ``sdk``: line-bot-sdk's models (``linebot.v3.messaging`` for requests, ``linebot.v3.webhooks``
  for deliveries), generated from LINE's OpenAPI documents and installed with the bot, so always
  there. The request model is built from the JSON the bot sends, strictly. The models alone would
  drop unknown properties and nulls, and take any ``type`` for the discriminator, so each object
  is walked first: its concrete model is found by its ``type`` (an unknown one is refused),
  unknown properties and nulls are refused, and every value is validated by the model's own
  pydantic field (strict types, lengths, item counts, enums). Then ``from_dict`` must build the
  whole request, as the SDK's client would.
- ``openapi``: the OpenAPI documents themselves in ``../shared/line-openapi`` (the envelope with
  openapi-core; each message, action, template and Flex component against its concrete schema
  with jsonschema, since the envelope check does not follow the ``type`` discriminators; unknown
  properties, which the schemas allow and LINE refuses). Only where that folder sits beside
  the checkout (``tests/shared.py``): ``available_checks()`` leaves it out elsewhere.

Webhook deliveries get ``sdk`` and ``openapi`` (LINE wrote them; the limits are on the bot's side).
"""
from __future__ import annotations

import importlib
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import yaml

from bot.channels.line.fake import LineStandIn
from tests.shared import LINE_OPENAPI

MESSAGING_SPEC = LINE_OPENAPI / "messaging-api.yml"
WEBHOOK_SPEC = LINE_OPENAPI / "webhook.yml"
API_HOST = "https://api.line.me"

# Limits LINE documents that neither line-bot-sdk's models nor messaging-api.yml encode.
MAX_TEXT_UNITS = 5000
MAX_LABEL_UNITS = 20
MAX_DISPLAY_TEXT = 300
MAX_ALT_TEXT = 400
MAX_URI = 1000
URI_SCHEMES = ("http:", "https:", "tel:", "line:")

ALL_CHECKS = ("limits", "sdk", "openapi")


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def openapi_available() -> bool:
    return MESSAGING_SPEC.exists() and WEBHOOK_SPEC.exists()


def available_checks() -> tuple[str, ...]:
    return ALL_CHECKS if openapi_available() else ("limits", "sdk")


def _json_type(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)


# ---- limits ---------------------------------------------------------------------------------------


def _action_limits(action: Any, where: str, *, label_required: bool = True) -> list[str]:
    if not isinstance(action, dict):
        return []  # the schema checks report it
    errors = []
    label = action.get("label")
    if label_required and not label:
        errors.append(f"{where}: an action needs a label here")
    if isinstance(label, str) and utf16_len(label) > MAX_LABEL_UNITS:
        errors.append(f"{where}: label is {utf16_len(label)} UTF-16 units (max {MAX_LABEL_UNITS})")
    if action.get("type") == "postback":
        if not isinstance(action.get("data"), str):
            errors.append(f"{where}: postback without data")
        shown = action.get("displayText")
        if isinstance(shown, str) and not 1 <= utf16_len(shown) <= MAX_DISPLAY_TEXT:
            errors.append(f"{where}: displayText must be 1..{MAX_DISPLAY_TEXT} characters")
    if action.get("type") == "uri":
        uri = action.get("uri")
        if not isinstance(uri, str) or not uri.startswith(URI_SCHEMES) or len(uri) > MAX_URI:
            errors.append(f"{where}: uri must be http, https, tel or line and at most {MAX_URI} characters")
    return errors


def _flex_component_limits(comp: Any, where: str) -> list[str]:
    if not isinstance(comp, dict):
        return []
    errors = []
    if comp.get("type") == "box" and isinstance(comp.get("contents"), list):
        for i, child in enumerate(comp["contents"]):
            errors += _flex_component_limits(child, f"{where}.contents[{i}]")
    if comp.get("type") == "text" and not (comp.get("text") or comp.get("contents")):
        errors.append(f"{where}: a Flex text needs text")
    if "action" in comp:
        errors += _action_limits(comp["action"], f"{where}.action", label_required=comp.get("type") == "button")
    return errors


def _message_limits(msg: Any, where: str) -> list[str]:
    if not isinstance(msg, dict):
        return []
    errors = []
    kind = msg.get("type")
    if kind == "text":
        text = msg.get("text")
        if isinstance(text, str) and not text.strip():
            errors.append(f"{where}: empty text")
        elif isinstance(text, str) and utf16_len(text) > MAX_TEXT_UNITS:
            errors.append(f"{where}: text is {utf16_len(text)} UTF-16 units (max {MAX_TEXT_UNITS})")
    if kind in ("flex", "template"):
        alt = msg.get("altText")
        if not isinstance(alt, str) or not 1 <= utf16_len(alt) <= MAX_ALT_TEXT:
            errors.append(f"{where}: altText must be 1..{MAX_ALT_TEXT} characters")
    if kind == "flex" and isinstance(msg.get("contents"), dict):
        container = msg["contents"]
        bubbles = container.get("contents") if container.get("type") == "carousel" else [container]
        for b, bubble in enumerate(bubbles if isinstance(bubbles, list) else []):
            for part in ("header", "hero", "body", "footer"):
                if isinstance(bubble, dict) and part in bubble:
                    errors += _flex_component_limits(bubble[part], f"{where}.contents[{b}].{part}")
    if kind == "template" and isinstance(msg.get("template"), dict):
        actions = msg["template"].get("actions")
        for i, action in enumerate(actions if isinstance(actions, list) else []):
            errors += _action_limits(action, f"{where}.template.actions[{i}]")
    quick = msg.get("quickReply")
    items = quick.get("items") if isinstance(quick, dict) else None
    for i, item in enumerate(items if isinstance(items, list) else []):
        iw = f"{where}.quickReply.items[{i}]"
        if isinstance(item, dict):
            if item.get("type") != "action":
                errors.append(f"{iw}: type must be 'action'")
            errors += _action_limits(item.get("action"), f"{iw}.action")
    return errors


def limit_errors(data: Any) -> list[str]:
    """The documented limits on every message of a reply or push body."""
    messages = data.get("messages") if isinstance(data, dict) else None
    errors: list[str] = []
    for i, msg in enumerate(messages if isinstance(messages, list) else []):
        errors += _message_limits(msg, f"messages[{i}]")
    return errors


# ---- line-bot-sdk's models --------------------------------------------------------------------------


def _discriminated(cls: type) -> dict[str, str] | None:
    """``type`` value → concrete model name, for a base model such as ``Message`` or ``Action``.

    The generated base classes keep it in a private class attribute; a concrete model has none
    of its own (reading it through inheritance would find its base's)."""
    return cls.__dict__.get(f"_{cls.__name__}__discriminator_value_class_map")


def _model_named(base: type, name: str) -> type:
    package = importlib.import_module(base.__module__.rsplit(".", 1)[0])  # linebot.v3.<api>.models
    return getattr(package, name)


def sdk_errors(model: type, value: Any, where: str, *, open_bases: frozenset[type] = frozenset()) -> list[str]:
    """Problems with ``value`` as the JSON of ``model`` (a line-bot-sdk pydantic.v1 model).

    ``open_bases``: base models whose unknown ``type`` values are accepted (LINE adds webhook
    event types): such an object is checked for what every one of them has, and may carry more.
    """
    if not isinstance(value, dict):
        return [f"{where}: expected an object ({model.__name__}), got {_json_type(value)}"]
    strict = True
    mapping = _discriminated(model)
    if mapping is not None:
        kind = value.get("type")
        name = mapping.get(kind) if isinstance(kind, str) else None
        if name is not None:
            model = _model_named(model, name)
        elif model in open_bases:
            strict = False
        else:
            return [f"{where}: unknown {model.__name__} type {kind!r}"]
    fields = {f.alias: f for f in model.__fields__.values()}
    errors = []
    unknown = sorted(set(value) - set(fields))
    if strict and unknown:
        errors.append(f"{where}: unknown properties {unknown} for {model.__name__}")
    for key, field in fields.items():
        if key in value:
            errors += _field_errors(model, field, value[key], f"{where}.{key}", open_bases)
        elif field.required:
            errors.append(f"{where}: {model.__name__} needs {key!r}")
    return errors


def _field_errors(model: type, field, value: Any, where: str, open_bases: frozenset[type]) -> list[str]:
    from pydantic.v1 import BaseModel, ValidationError
    from pydantic.v1.fields import SHAPE_LIST, SHAPE_SINGLETON

    if value is None:
        return [f"{where}: null (LINE takes a property left out, not null)"]
    inner = field.type_
    if isinstance(inner, type) and issubclass(inner, BaseModel):
        if field.shape == SHAPE_SINGLETON:
            return sdk_errors(inner, value, where, open_bases=open_bases)
        if field.shape == SHAPE_LIST:
            if not isinstance(value, list):
                return [f"{where}: expected a list, got {_json_type(value)}"]
            errors = []
            least, most = getattr(field.outer_type_, "min_items", None), getattr(field.outer_type_, "max_items", None)
            if least is not None and len(value) < least:
                errors.append(f"{where}: {len(value)} items, at least {least} ({model.__name__})")
            if most is not None and len(value) > most:
                errors.append(f"{where}: {len(value)} items, at most {most} ({model.__name__})")
            for i, item in enumerate(value):
                errors += sdk_errors(inner, item, f"{where}[{i}]", open_bases=open_bases)
            return errors
    _, error = field.validate(value, {}, loc=field.alias, cls=model)
    if not error:
        return []
    return [f"{where}: {e['msg']} ({model.__name__})" for e in ValidationError([error], model).errors()]


@lru_cache(maxsize=None)
def _request_models() -> dict[str, type]:
    from linebot.v3.messaging import models

    return {"/v2/bot/message/reply": models.ReplyMessageRequest,
            "/v2/bot/message/push": models.PushMessageRequest,
            "/v2/bot/chat/loading/start": models.ShowLoadingAnimationRequest}


# Endpoints the bot calls without a body.
_BODILESS = re.compile(r"/v2/bot/(group|room)/[^/]+/leave")


def sdk_request_errors(method: str, path: str, data: Any, raw: bytes) -> list[str]:
    if method.upper() != "POST":
        return [f"{method} {path}: the bot only POSTs to the Messaging API"]
    if _BODILESS.fullmatch(path):
        return [] if not raw else [f"{path} takes no body"]
    model = _request_models().get(path)
    if model is None:
        return [f"POST {path}: not an endpoint of the Messaging API the bot uses"]
    errors = sdk_errors(model, data, "body")
    if not errors:
        try:  # what the SDK's client builds from it
            model.from_dict(data)
        except Exception as exc:  # pydantic's ValidationError, or a KeyError from a generated from_dict
            errors.append(f"body: line-bot-sdk cannot build {model.__name__}: {type(exc).__name__}: {exc}"[:500])
    return errors


def sdk_webhook_errors(data: Any) -> list[str]:
    from linebot.v3.webhooks import models

    return sdk_errors(models.CallbackRequest, data, "body", open_bases=frozenset({models.Event}))


# ---- LINE's OpenAPI documents ---------------------------------------------------------------------


@lru_cache(maxsize=None)
def load_spec(path: Path) -> dict:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@lru_cache(maxsize=None)
def openapi(path: Path):
    """openapi-core's reader of a document: about a second to build, once per process."""
    from openapi_core import OpenAPI

    return OpenAPI.from_dict(load_spec(path))


@lru_cache(maxsize=None)
def _validator(path: Path, name: str):
    """A jsonschema validator for ``#/components/schemas/<name>`` (OpenAPI 3.0 ≈ draft 4)."""
    import jsonschema

    spec = load_spec(path)
    schema = {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())


def _schemas(path: Path) -> dict:
    return load_spec(path)["components"]["schemas"]


def _mapping(path: Path, base: str) -> dict[str, str]:
    """``type`` value → concrete schema name, from ``base``'s discriminator."""
    disc = _schemas(path)[base].get("discriminator", {})
    return {k: v.rsplit("/", 1)[-1] for k, v in disc.get("mapping", {}).items()}


@lru_cache(maxsize=None)
def _properties(path: Path, name: str) -> frozenset[str]:
    """Every property a schema names, through its allOf chain."""
    schemas = _schemas(path)
    out: set[str] = set()

    def walk(s: dict) -> None:
        if "$ref" in s:
            walk(schemas[s["$ref"].rsplit("/", 1)[-1]])
            return
        out.update((s.get("properties") or {}).keys())
        for part in s.get("allOf", []):
            walk(part)

    walk(schemas[name])
    return frozenset(out)


def _unknown_properties(path: Path, name: str, value: Any, where: str) -> list[str]:
    extra = set(value) - _properties(path, name) if isinstance(value, dict) else set()
    return [f"{where}: unknown properties {sorted(extra)} for {name}"] if extra else []


def check_schema(path: Path, name: str, value: Any, where: str) -> list[str]:
    errors = [f"{where}: {e.message} (at {'/'.join(map(str, e.path)) or '.'}, schema {name})"
              for e in _validator(path, name).iter_errors(value)]
    return errors + _unknown_properties(path, name, value, where)


def _concrete(path: Path, base: str, value: Any, where: str) -> tuple[str | None, list[str]]:
    if not isinstance(value, dict):
        return None, [f"{where}: not an object"]
    name = _mapping(path, base).get(value.get("type"))
    if name is None:
        return None, [f"{where}: unknown {base} type {value.get('type')!r}"]
    return name, check_schema(path, name, value, where)


def _openapi_flex_component(comp: Any, where: str) -> list[str]:
    name, errors = _concrete(MESSAGING_SPEC, "FlexComponent", comp, where)
    if name == "FlexBox":
        for i, child in enumerate(comp.get("contents") or []):
            errors += _openapi_flex_component(child, f"{where}.contents[{i}]")
    if name is not None and "action" in comp:
        errors += _concrete(MESSAGING_SPEC, "Action", comp["action"], f"{where}.action")[1]
    return errors


def _openapi_message(msg: Any, where: str) -> list[str]:
    name, errors = _concrete(MESSAGING_SPEC, "Message", msg, where)
    if name is None:
        return errors
    if name == "FlexMessage":
        cname, cerr = _concrete(MESSAGING_SPEC, "FlexContainer", msg.get("contents"), f"{where}.contents")
        errors += cerr
        bubbles = [msg["contents"]] if cname == "FlexBubble" else (msg["contents"].get("contents") or []) if cname else []
        for b, bubble in enumerate(bubbles):
            for part in ("header", "hero", "body", "footer"):
                if isinstance(bubble, dict) and part in bubble:
                    errors += _openapi_flex_component(bubble[part], f"{where}.contents[{b}].{part}")
    if name == "TemplateMessage":
        errors += _concrete(MESSAGING_SPEC, "Template", msg.get("template"), f"{where}.template")[1]
        for i, action in enumerate((msg.get("template") or {}).get("actions") or []):
            errors += _concrete(MESSAGING_SPEC, "Action", action, f"{where}.template.actions[{i}]")[1]
    quick = msg.get("quickReply")
    if quick is not None:
        errors += check_schema(MESSAGING_SPEC, "QuickReply", quick, f"{where}.quickReply")
        for i, item in enumerate((quick or {}).get("items") or []):
            iw = f"{where}.quickReply.items[{i}]"
            errors += check_schema(MESSAGING_SPEC, "QuickReplyItem", item, iw)
            if isinstance(item, dict):
                errors += _concrete(MESSAGING_SPEC, "Action", item.get("action"), f"{iw}.action")[1]
    return errors


def _request_schema(path: str) -> str | None:
    """The name of the request body's schema for ``POST path``, from messaging-api.yml."""
    operation = (load_spec(MESSAGING_SPEC)["paths"].get(path) or {}).get("post") or {}
    ref = (((operation.get("requestBody") or {}).get("content") or {}).get("application/json") or {}).get("schema", {})
    return ref["$ref"].rsplit("/", 1)[-1] if "$ref" in ref else None


def openapi_request_errors(method: str, path: str, headers: dict[str, str], data: Any, raw: bytes) -> list[str]:
    from openapi_core.datatypes import RequestParameters

    class _Request:
        host_url = API_HOST
        content_type = "application/json"

        def __init__(self) -> None:
            self.path, self.method, self.body = path, method.lower(), raw
            self.parameters = RequestParameters(header=headers)

    errors: list[str] = []
    try:
        openapi(MESSAGING_SPEC).validate_request(_Request())
    except Exception as exc:  # openapi-core raises one error wrapping the schema errors
        inner = getattr(exc, "__cause__", None)
        detail = "; ".join(str(e.message) for e in getattr(inner, "schema_errors", ()) or ()) or str(inner or exc)
        errors.append(f"envelope: {type(exc).__name__}: {detail}")
    schema = _request_schema(path)
    if schema is not None:  # openapi-core lets unknown properties through
        errors += _unknown_properties(MESSAGING_SPEC, schema, data, "body")
    if isinstance(data, dict) and isinstance(data.get("messages"), list):
        for i, msg in enumerate(data["messages"]):
            errors += _openapi_message(msg, f"messages[{i}]")
    return errors


def openapi_webhook_errors(data: Any) -> list[str]:
    errors = check_schema(WEBHOOK_SPEC, "CallbackRequest", data, "body")
    for i, event in enumerate(data.get("events") or [] if isinstance(data, dict) else []):
        where = f"events[{i}]"
        name = _mapping(WEBHOOK_SPEC, "Event").get(event.get("type") if isinstance(event, dict) else None)
        # An event type LINE added later: what every event has, and anything more.
        errors += check_schema(WEBHOOK_SPEC, name, event, where) if name else \
            [e for e in check_schema(WEBHOOK_SPEC, "Event", event, where) if "unknown properties" not in e]
        if isinstance(event, dict) and "source" in event:
            errors += _concrete(WEBHOOK_SPEC, "Source", event["source"], f"{where}.source")[1]
        if name == "MessageEvent":
            errors += _concrete(WEBHOOK_SPEC, "MessageContent", event.get("message"), f"{where}.message")[1]
    return errors


# ---- the checks together ------------------------------------------------------------------------------


def _selected(checks: Iterable[str] | None) -> tuple[str, ...]:
    chosen = available_checks() if checks is None else tuple(checks)
    unknown = set(chosen) - set(ALL_CHECKS)
    if unknown:
        raise ValueError(f"unknown checks {sorted(unknown)}; there are {ALL_CHECKS}")
    if "openapi" in chosen and not openapi_available():
        raise FileNotFoundError(f"{LINE_OPENAPI} is not here: the openapi check cannot run")
    return chosen


def check_api_request(method: str, path: str, headers: dict[str, str], body: bytes,
                      checks: Iterable[str] | None = None) -> list[str]:
    """Every problem LINE's Messaging API would refuse ``body`` for, each prefixed with the
    check that found it. ``checks``: some of ``ALL_CHECKS``; by default every one available."""
    chosen = _selected(checks)
    try:
        data = json.loads(body) if body else None
    except ValueError:
        return ["envelope: body is not JSON"]
    problems: list[str] = []
    if body and "json" not in {k.lower(): v for k, v in headers.items()}.get("content-type", ""):
        problems.append("envelope: a body without Content-Type: application/json")
    if "limits" in chosen:
        problems += [f"limits: {p}" for p in limit_errors(data)]
    if "sdk" in chosen:
        problems += [f"sdk: {p}" for p in sdk_request_errors(method, path, data, body)]
    if "openapi" in chosen:
        problems += [f"openapi: {p}" for p in openapi_request_errors(method, path, headers, data, body)]
    return problems


def validate_webhook_body(body: bytes | str | dict, checks: Iterable[str] | None = None) -> list[str]:
    """Check a webhook body as LINE would send it; returns the problems (see ``check_api_request``)."""
    chosen = _selected(checks)
    data = json.loads(body) if isinstance(body, (bytes, str)) else body
    problems: list[str] = []
    if "sdk" in chosen:
        problems += [f"sdk: {p}" for p in sdk_webhook_errors(data)]
    if "openapi" in chosen:
        problems += [f"openapi: {p}" for p in openapi_webhook_errors(data)]
    return problems


def contract_standin(access_token: str = "test-access-token", **kwargs) -> LineStandIn:
    """The stand-in LINE, refusing what LINE's contract refuses (``check_api_request``). The
    OpenAPI document is loaded here (about a second, once per process), not inside the first
    request: in tests the stand-in shares the bot's event loop, and timing tests would feel it."""
    if "openapi" in available_checks():
        openapi(MESSAGING_SPEC)
    return LineStandIn(access_token, check=check_api_request, **kwargs)
