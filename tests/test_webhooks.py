"""Webhook signatures, parsing and the aiohttp receiver (maxxton_async.webhooks)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from maxxton_async import ConfigurationError, MaxxtonError, ResponseDecodeError
from maxxton_async.models import WebhookEventType, WebhookNotification
from maxxton_async.webhooks import (
    SIGNATURE_HEADER,
    WebhookHandler,
    WebhookPayloadError,
    WebhookSignatureError,
    is_valid_signature,
    parse,
    sign,
    verify_signature,
    webhook_app,
)
from tests._support import serve_app

SECRET = "whsec-test-0123456789"
BODY = (
    b'{"notificationId":"2342040","webhookId":1,"webhookName":"Maxxton test service",'
    b'"eventOccurred":"2024-07-31T08:39:44.709527Z","sentDate":"2024-07-31T08:39:46.203144Z",'
    b'"type":"reservation.status.changed","data":{"reservation":{"reservationId":77,'
    b'"status":21,"statusValue":"DEFINITIVE"}}}'
)


def _reference_signature(body: bytes, secret: str) -> str:
    # Independent of the module: HMAC-SHA256 over the raw body, base64, "v1," prefix
    # (guide, Webhooks, Sender Validation).
    mac = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


# --- signatures -----------------------------------------------------------------------------


def test_sign_matches_the_guide_scheme() -> None:
    assert sign(BODY, SECRET) == _reference_signature(BODY, SECRET)
    assert sign(BODY, SECRET.encode()) == sign(BODY, SECRET)


def test_valid_signature_passes() -> None:
    verify_signature(BODY, sign(BODY, SECRET), SECRET)
    assert is_valid_signature(BODY, _reference_signature(BODY, SECRET), SECRET)


def test_tampered_body_fails() -> None:
    header = sign(BODY, SECRET)
    tampered = BODY.replace(b'"status":21', b'"status":41')
    with pytest.raises(WebhookSignatureError) as info:
        verify_signature(tampered, header, SECRET)
    assert info.value.reason == "mismatch"
    assert not is_valid_signature(tampered, header, SECRET)
    assert not is_valid_signature(BODY + b" ", header, SECRET)


def test_wrong_secret_fails_and_message_does_not_leak_it() -> None:
    header = sign(BODY, "another-secret")
    with pytest.raises(WebhookSignatureError) as info:
        verify_signature(BODY, header, SECRET)
    assert info.value.reason == "mismatch"
    assert SECRET not in str(info.value)
    assert SECRET not in repr(info.value)
    assert isinstance(info.value, MaxxtonError)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing"),
        ("", "missing"),
        ("   ", "missing"),
        ("K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=", "malformed"),  # no comma
        ("v1,not*base64!", "malformed"),
        ("v1,", "malformed"),
        ("v1,AAAA", "malformed"),  # valid base64, but not a SHA-256 digest
        ("v2," + sign(BODY, SECRET)[3:], "malformed"),  # unknown version only
        ("v1 ,abc", "malformed"),
        ("\x00\xff garbage", "malformed"),
    ],
)
def test_garbled_header_is_a_typed_error(header: str | None, reason: str) -> None:
    with pytest.raises(WebhookSignatureError) as info:
        verify_signature(BODY, header, SECRET)
    assert info.value.reason == reason
    assert not is_valid_signature(BODY, header, SECRET)


def test_several_signatures_any_match_passes() -> None:
    good = sign(BODY, SECRET)
    old = sign(BODY, "rotated-out-secret")
    assert is_valid_signature(BODY, f"{old} {good}", SECRET)
    assert is_valid_signature(BODY, f"{good} {old}", SECRET)
    assert is_valid_signature(BODY, f"v1,garbage!! {good}", SECRET)
    assert is_valid_signature(BODY, f"v2,abc  {good}", SECRET)
    assert not is_valid_signature(BODY, f"{old} {old}", SECRET)


def test_empty_secret_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        verify_signature(BODY, sign(BODY, SECRET), "")
    with pytest.raises(ConfigurationError):
        sign(BODY, b"")
    with pytest.raises(ConfigurationError):
        webhook_app("", {})


# --- parsing --------------------------------------------------------------------------------


def test_parse_decodes_the_container() -> None:
    n = parse(BODY)
    assert n.notification_id == "2342040"
    assert n.event_type is WebhookEventType.STATUS_CHANGE
    assert n.data.reservation is not None
    assert n.data.reservation.reservation_id == 77


@pytest.mark.parametrize("body", [b"", b"not json", b'{"webhookId":1}', b"[1,2]"])
def test_parse_failure_keeps_raw_bytes(body: bytes) -> None:
    with pytest.raises(WebhookPayloadError) as info:
        parse(body)
    assert info.value.body == body
    assert info.value.detail
    assert isinstance(info.value, ResponseDecodeError)


# --- the receiver over a real aiohttp server on loopback ------------------------------------


class Recorder:
    """Handlers that record what they received."""

    def __init__(self) -> None:
        self.seen: list[WebhookNotification] = []

    async def ok(self, n: WebhookNotification) -> None:
        self.seen.append(n)

    async def boom(self, n: WebhookNotification) -> None:
        self.seen.append(n)
        raise RuntimeError("database down")


async def _serve(app: web.Application) -> AsyncIterator[str]:
    async with serve_app(app) as base_url:
        yield f"{base_url}/webhooks"


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def url(recorder: Recorder) -> AsyncIterator[str]:
    handlers: dict[WebhookEventType | str, WebhookHandler] = {
        WebhookEventType.STATUS_CHANGE: recorder.ok,
        "reservation.payment_received": recorder.boom,
    }
    async for u in _serve(webhook_app(SECRET, handlers)):
        yield u


async def _post(url: str, body: bytes, header: str | None) -> tuple[int, dict[str, object]]:
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers[SIGNATURE_HEADER] = header
    async with aiohttp.ClientSession() as s, s.post(url, data=body, headers=headers) as r:
        return r.status, await r.json()


async def test_receiver_handles_a_signed_delivery(url: str, recorder: Recorder) -> None:
    status, answer = await _post(url, BODY, sign(BODY, SECRET))
    assert status == 200
    assert answer["status"] == "ok"
    assert answer["notificationId"] == "2342040"
    assert len(recorder.seen) == 1
    assert recorder.seen[0].event_type is WebhookEventType.STATUS_CHANGE


async def test_receiver_accepts_the_other_status_spelling(url: str, recorder: Recorder) -> None:
    body = BODY.replace(b"reservation.status.changed", b"reservation.status_change")
    status, _ = await _post(url, body, sign(body, SECRET))
    assert status == 200
    assert [n.type for n in recorder.seen] == ["reservation.status_change"]


@pytest.mark.parametrize(
    "header",
    [None, "", "v1,@@@", "nocomma", sign(BODY, "wrong-secret")],
)
async def test_receiver_401_on_bad_signature(
    url: str, recorder: Recorder, header: str | None
) -> None:
    status, answer = await _post(url, BODY, header)
    assert status == 401
    assert answer["status"] == "unauthorized"
    assert recorder.seen == []


async def test_receiver_401_on_tampered_body(url: str, recorder: Recorder) -> None:
    tampered = BODY.replace(b'"status":21', b'"status":41')
    status, _ = await _post(url, tampered, sign(BODY, SECRET))
    assert status == 401
    assert recorder.seen == []


async def test_receiver_400_on_undecodable_body(url: str, recorder: Recorder) -> None:
    body = b'{"webhookId": "not a container"'
    status, answer = await _post(url, body, sign(body, SECRET))
    assert status == 400
    assert answer["status"] == "bad_request"
    assert recorder.seen == []


async def test_receiver_500_when_handler_raises(
    url: str, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    body = BODY.replace(b"reservation.status.changed", b"reservation.payment_received")
    with caplog.at_level(logging.DEBUG, logger="maxxton_async.webhooks"):
        status, answer = await _post(url, body, sign(body, SECRET))
    assert status == 500
    assert answer["status"] == "error"
    assert len(recorder.seen) == 1
    assert "handler failed" in caplog.text
    assert SECRET not in caplog.text


async def test_receiver_unhandled_type_answers_2xx_with_a_note(
    url: str, recorder: Recorder
) -> None:
    body = BODY.replace(b"reservation.status.changed", b"reservation.refund_given")
    status, answer = await _post(url, body, sign(body, SECRET))
    assert status == 200
    assert answer["status"] == "ignored"
    assert "no handler" in str(answer["note"])
    assert recorder.seen == []


async def test_receiver_unhandled_status_and_fallback_are_configurable(recorder: Recorder) -> None:
    body = BODY.replace(b"reservation.status.changed", b"reservation.something_new")
    async for u in _serve(webhook_app(SECRET, {}, unhandled_status=422)):
        status, _ = await _post(u, body, sign(body, SECRET))
        assert status == 422
    async for u in _serve(webhook_app(SECRET, {}, fallback=recorder.ok)):
        status, _ = await _post(u, body, sign(body, SECRET))
        assert status == 200
    assert [n.type for n in recorder.seen] == ["reservation.something_new"]


async def test_receiver_only_answers_post_on_its_path(url: str) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.get(url) as r:
            assert r.status == 405
        async with s.post(url.replace("/webhooks", "/other"), data=BODY) as r:
            assert r.status == 404
