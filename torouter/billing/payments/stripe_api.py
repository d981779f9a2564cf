"""The Stripe seam: the one module that imports the official SDK and maps its errors.

A `stripe.StripeClient` per configuration, with the deployment's `stripe_api_base` as its
`api` base address (SPEC R14.8: set on the client, never by patching the module), the SDK's
aiohttp client on a session of our own, and 2 network retries (POSTs carry an idempotency
key, so a retry never does a thing twice). Webhooks are verified by the SDK's
`construct_event` with a 300 s tolerance (R14.3).

Imported lazily (the SDK costs ~9 MB and 0.2 s): a gateway that never takes a payment never
loads it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import aiohttp
import stripe

from torouter.billing.payments.provider import (
    CheckoutRequest,
    CheckoutSession,
    ProviderError,
    ProviderEvent,
    ProviderRefund,
    SignatureError,
)

if TYPE_CHECKING:  # the SDK's request shapes, for the checker only
    from stripe.params import RefundCreateParams, RefundListParams, RefundListParamsCreated
    from stripe.params.checkout import (
        SessionCreateParams,
        SessionListParams,
        SessionRetrieveParams,
    )

__all__ = ["StripeProvider"]

WEBHOOK_TOLERANCE_S = 300
_LIST_PAGE = 100


@contextlib.contextmanager
def _mapped() -> Iterator[None]:
    """Stripe's exceptions → `ProviderError`, the most specific way (the httpx habit)."""
    try:
        yield
    except stripe.SignatureVerificationError as exc:
        raise SignatureError(str(exc.user_message or exc)) from exc
    except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
        raise ProviderError(
            "the payment provider could not be reached", status=exc.http_status, retryable=True
        ) from exc
    except stripe.IdempotencyError as exc:
        raise ProviderError(
            str(exc.user_message or exc), code="idempotency_error", status=exc.http_status
        ) from exc
    except stripe.AuthenticationError as exc:
        raise ProviderError(
            "the payment provider refused the secret key", code="authentication", status=401
        ) from exc
    except stripe.StripeError as exc:
        status = exc.http_status
        raise ProviderError(
            str(exc.user_message or exc) or "payment provider error",
            code=exc.code,
            status=status,
            retryable=status is None or status >= 500,
        ) from exc


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _id_of(value: Any) -> str | None:
    """An id that may come expanded into its object."""
    if isinstance(value, Mapping):
        return _text(value.get("id"))
    return _text(value)


def _session(d: Mapping[str, Any]) -> CheckoutSession:
    intent = d.get("payment_intent")
    receipt = None
    if isinstance(intent, Mapping):
        charge = intent.get("latest_charge")
        if isinstance(charge, Mapping):
            receipt = _text(charge.get("receipt_url"))
    return CheckoutSession(
        id=str(d["id"]),
        status=str(d.get("status") or ""),
        payment_status=str(d.get("payment_status") or ""),
        amount_total=d.get("amount_total"),
        currency=_text(d.get("currency")),
        client_reference_id=_text(d.get("client_reference_id")),
        metadata={str(k): str(v) for k, v in (d.get("metadata") or {}).items()},
        url=_text(d.get("url")),
        payment_intent=_id_of(intent),
        expires_at=d.get("expires_at"),
        created=int(d.get("created") or 0),
        receipt_url=receipt,
    )


def _refund(d: Mapping[str, Any]) -> ProviderRefund:
    return ProviderRefund(
        id=str(d["id"]),
        status=str(d.get("status") or ""),
        amount=int(d.get("amount") or 0),
        currency=str(d.get("currency") or ""),
        payment_intent=_id_of(d.get("payment_intent")),
        metadata={str(k): str(v) for k, v in (d.get("metadata") or {}).items()},
        created=int(d.get("created") or 0),
        failure_reason=_text(d.get("failure_reason")),
    )


class StripeProvider:
    """`PaymentProvider` over the official SDK. Build and use inside the event loop."""

    def __init__(
        self,
        *,
        secret_key: str,
        webhook_secret: str,
        api_base: str | None = None,
        timeout_s: float = 20.0,
        max_network_retries: int = 2,
    ) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s))
        self._webhook_secret = webhook_secret
        self.client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base.rstrip("/")} if api_base else None,
            http_client=stripe.AIOHTTPClient(
                session=self._http, timeout=aiohttp.ClientTimeout(total=timeout_s)
            ),
            max_network_retries=max_network_retries,
        )

    async def create_session(self, req: CheckoutRequest) -> CheckoutSession:
        ids = {"order_id": req.order_id, "user_id": str(req.user_id), "kind": req.kind}
        params: SessionCreateParams = {
            "mode": "payment",
            "line_items": [
                {
                    "price_data": {
                        "currency": req.currency,
                        "unit_amount": req.amount_minor,
                        "product_data": {"name": req.product_name},
                    },
                    "quantity": 1,
                }
            ],
            "client_reference_id": req.order_id,
            "metadata": ids,
            "payment_intent_data": {"metadata": ids},
            "success_url": req.success_url,
            "cancel_url": req.cancel_url,
            "expires_at": req.expires_at,
        }
        if req.customer_email:
            params["customer_email"] = req.customer_email
        with _mapped():
            obj = await self.client.v1.checkout.sessions.create_async(
                params,
                {"idempotency_key": f"checkout-{req.order_id}"},
            )
        return _session(obj.to_dict())

    async def retrieve_session(
        self, session_id: str, *, with_receipt: bool = False
    ) -> CheckoutSession:
        params: SessionRetrieveParams = (
            {"expand": ["payment_intent.latest_charge"]} if with_receipt else {}
        )
        with _mapped():
            obj = await self.client.v1.checkout.sessions.retrieve_async(session_id, params)
        return _session(obj.to_dict())

    async def expire_session(self, session_id: str) -> CheckoutSession:
        with _mapped():
            obj = await self.client.v1.checkout.sessions.expire_async(session_id)
        return _session(obj.to_dict())

    async def list_sessions(self, *, created_gte: int, created_lt: int) -> list[CheckoutSession]:
        params: SessionListParams = {
            "created": {"gte": created_gte, "lt": created_lt},
            "limit": _LIST_PAGE,
        }
        with _mapped():
            page = await self.client.v1.checkout.sessions.list_async(params)
            return [_session(s.to_dict()) async for s in page.auto_paging_iter()]

    async def create_refund(
        self,
        *,
        payment_intent: str,
        amount_minor: int,
        order_id: str,
        idempotency_key: str,
    ) -> ProviderRefund:
        params: RefundCreateParams = {
            "payment_intent": payment_intent,
            "amount": amount_minor,
            "reason": "requested_by_customer",
            "metadata": {"order_id": order_id},
        }
        with _mapped():
            obj = await self.client.v1.refunds.create_async(
                params,
                {"idempotency_key": idempotency_key},
            )
        return _refund(obj.to_dict())

    async def list_refunds(
        self,
        *,
        payment_intent: str | None = None,
        created_gte: int | None = None,
        created_lt: int | None = None,
    ) -> list[ProviderRefund]:
        params: RefundListParams = {"limit": _LIST_PAGE}
        if payment_intent:
            params["payment_intent"] = payment_intent
        created: RefundListParamsCreated = {}
        if created_gte is not None:
            created["gte"] = created_gte
        if created_lt is not None:
            created["lt"] = created_lt
        if created:
            params["created"] = created
        with _mapped():
            page = await self.client.v1.refunds.list_async(params)
            return [_refund(r.to_dict()) async for r in page.auto_paging_iter()]

    def parse_webhook(self, payload: bytes, signature: str | None) -> ProviderEvent:
        with _mapped():
            try:
                event = self.client.construct_event(
                    payload, signature, self._webhook_secret, tolerance=WEBHOOK_TOLERANCE_S
                )
            except (ValueError, UnicodeDecodeError, KeyError) as exc:  # not JSON, not an event
                raise SignatureError("the webhook payload is not a Stripe event") from exc
        d = event.to_dict()
        obj = (d.get("data") or {}).get("object") or {}
        kind = obj.get("object") if isinstance(obj, Mapping) else None
        return ProviderEvent(
            id=str(d.get("id")),
            type=str(d.get("type")),
            created=int(d.get("created") or 0),
            session=_session(obj) if kind == "checkout.session" else None,
            refund=_refund(obj) if kind == "refund" else None,
        )

    async def aclose(self) -> None:
        await self._http.close()
