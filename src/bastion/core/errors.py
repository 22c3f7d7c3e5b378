"""The one error tree of the gateway.

Every refusal the gateway can answer with is a :class:`GatewayError`. Each class
knows its HTTP status, its OpenAI-style ``type`` and stable ``code``, the
message a person reads, and the level it is logged at. Provider adapters raise
only :class:`ProviderError` subclasses, converted from the vendor's answer by
type and status code at the adapter boundary; the route step turns them into a
fallback, a retry or an :class:`UpstreamUnavailable`.

::

    GatewayError
    ├── InvalidRequest                400 invalid_request
    │   ├── BodyTooLarge              413 request_too_large
    │   ├── RequestTimeout            408 request_timeout
    │   └── UnsupportedMediaType      415 invalid_request
    ├── AuthenticationFailed          401 invalid_api_key
    ├── AdminAuthFailed               401 invalid_master_key
    │   ├── InvalidAdminToken         401 invalid_admin_token
    │   └── InvalidCredentials        401 invalid_credentials (admin login)
    ├── AuthThrottled                 429 too_many_auth_failures (Retry-After)
    ├── ModelNotAllowed               403 model_not_allowed
    ├── UserNotAllowed                403 user_not_allowed (naming an end user)
    ├── OriginNotAllowed              403 origin_not_allowed (browser origin)
    ├── InsufficientRole              403 insufficient_role (admin roles)
    ├── ModelNotFound                 404 model_not_found
    ├── NotFound                      404 not_found
    ├── RateLimited                   429 rate_limit_exceeded  (Retry-After)
    ├── BudgetExceeded                429 budget_exceeded
    ├── PromptInjectionDetected       400 prompt_injection_detected
    ├── InputTooLargeToScan           400 input_too_large_to_scan
    ├── SystemMessageNotAllowed       400 system_message_not_allowed
    ├── GuardUnavailable              503 guard_unavailable
    ├── PIIBlocked                    400 pii_blocked
    │   └── PIIScanTooLarge           400 pii_scan_too_large
    ├── NoCompliantProvider           422 no_compliant_provider
    ├── NoCapableModel                422 no_capable_model (tools, images, … unsupported)
    ├── ContentFiltered               400 content_filtered
    ├── OutputSchemaMismatch          502 output_schema_mismatch
    ├── UpstreamUnavailable           503 upstream_unavailable (Retry-After)
    ├── StoreUnavailable              503 service_unavailable  (Retry-After; the database)
    ├── ServerShuttingDown            503 server_shutting_down (Retry-After)
    ├── UpstreamRejected              400 upstream_rejected
    ├── NotConfigured                 501 not_configured
    ├── ConfigRejected                422 invalid_config (a reload's new config)
    ├── ReviewPending                 202 review_pending (not a failure: poll the review)
    ├── AnswerRejected                422 answer_rejected (a reviewer said no)
    ├── ReviewExpired                 410 review_expired
    └── ProviderError                 502 (internal: never shown as such)
        ├── ProviderRateLimited       429 from the provider, with retry_after_s
        ├── ProviderServerError       5xx from the provider
        ├── ProviderAuthError         401/403 from the provider (our configuration)
        ├── ProviderBadRequest        other 4xx from the provider
        ├── ProviderTimeout           connect / first byte / total deadline passed
        ├── ProviderConnectionError   refused, reset, DNS
        ├── ProviderBadResponse       malformed JSON or an unexpected shape
        │   └── ProviderAnswerTooLarge  a body or stream event over the provider's cap
        ├── ProviderRedirected        a 3xx answer (never followed: keys stay home)
        ├── ProviderBusy              no free connection slot here (not the provider's
        │                             fault: never counted by its circuit breaker)
        └── ProviderStreamBroken      the stream ended before its end event
"""

from __future__ import annotations

import logging
from typing import ClassVar


class GatewayError(Exception):
    """A refusal with a status, a stable code and a message for a person."""

    status: ClassVar[int] = 500
    type: ClassVar[str] = "server_error"
    code: ClassVar[str] = "internal_error"
    default_message: ClassVar[str] = "Something went wrong inside the gateway. Please try again."
    log_level: ClassVar[int] = logging.ERROR

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after_s: float | None = None,
        param: str | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.retry_after_s = retry_after_s
        self.param = param
        super().__init__(self.message)

    def headers(self) -> dict[str, str]:
        """Headers the client gets with this error (``Retry-After`` when known)."""
        if self.retry_after_s is None:
            return {}
        return {"Retry-After": str(max(1, round(self.retry_after_s + 0.499)))}


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request_error"
    code = "invalid_request"
    default_message = "The request is not valid."
    log_level = logging.INFO


class BodyTooLarge(InvalidRequest):
    status = 413
    code = "request_too_large"
    default_message = "The request body is larger than this gateway accepts."


class RequestTimeout(InvalidRequest):
    """The client took too long to send its request body (a stalled or slowloris client)."""

    status = 408
    code = "request_timeout"
    default_message = "The request body did not arrive in time. Please send it again."


class UnsupportedMediaType(InvalidRequest):
    status = 415
    default_message = "Send the request body as JSON (Content-Type: application/json)."


class AuthenticationFailed(GatewayError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"
    default_message = "The API key is missing, unknown, expired or revoked."
    log_level = logging.INFO


class AdminAuthFailed(AuthenticationFailed):
    code = "invalid_master_key"
    default_message = ("This admin route needs the master key (the value of "
                       "BASTION_MASTER_KEY on the gateway) as a Bearer token.")


class AuthThrottled(GatewayError):
    """Too many failed authentications from one client address (see bastion.auth_guard)."""

    status = 429
    type = "rate_limit_error"
    code = "too_many_auth_failures"
    default_message = ("Too many failed authentication attempts from this address. "
                       "Please wait and check the key you are sending.")
    log_level = logging.WARNING


class InvalidAdminToken(AdminAuthFailed):
    code = "invalid_admin_token"
    default_message = "The admin token is unknown, expired or revoked."


class InvalidCredentials(AdminAuthFailed):
    code = "invalid_credentials"
    default_message = "The account name or password is wrong, or the account is disabled."


class UserNotAllowed(GatewayError):
    status = 403
    type = "permission_error"
    code = "user_not_allowed"
    default_message = ("This credential may not name the end user (x-bastion-user); an "
                       "operator can create a key with act_for_users for a backend service.")
    log_level = logging.INFO


class OriginNotAllowed(GatewayError):
    status = 403
    type = "permission_error"
    code = "origin_not_allowed"
    default_message = "This token may not be used from this web page's origin."
    log_level = logging.INFO


class InsufficientRole(GatewayError):
    status = 403
    type = "permission_error"
    code = "insufficient_role"
    default_message = "Your admin role does not allow this."
    log_level = logging.INFO


class ModelNotAllowed(GatewayError):
    status = 403
    type = "permission_error"
    code = "model_not_allowed"
    default_message = "This API key may not use that model."
    log_level = logging.INFO


class ModelNotFound(GatewayError):
    status = 404
    type = "invalid_request_error"
    code = "model_not_found"
    default_message = "That model is not configured on this gateway."
    log_level = logging.INFO


class NotFound(GatewayError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"
    default_message = "Nothing is here."
    log_level = logging.INFO


class RateLimited(GatewayError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"
    default_message = "Too many requests right now. Please wait a moment and try again."
    log_level = logging.INFO


class BudgetExceeded(GatewayError):
    status = 429
    type = "insufficient_quota"
    code = "budget_exceeded"
    default_message = "This API key has used up its budget."
    log_level = logging.INFO


class PromptInjectionDetected(GatewayError):
    status = 400
    type = "invalid_request_error"
    code = "prompt_injection_detected"
    default_message = "The request was blocked because it looks like a prompt injection."
    log_level = logging.WARNING


class InputTooLargeToScan(GatewayError):
    status = 400
    type = "invalid_request_error"
    code = "input_too_large_to_scan"
    default_message = ("The request holds more text than the gateway's safety checks accept. "
                       "Send less text in one request.")
    log_level = logging.INFO


class SystemMessageNotAllowed(GatewayError):
    status = 400
    type = "invalid_request_error"
    code = "system_message_not_allowed"
    default_message = ("This model's system prompt is set by the gateway; requests may not "
                       "carry system or developer messages.")
    log_level = logging.INFO


class GuardUnavailable(GatewayError):
    status = 503
    type = "server_error"
    code = "guard_unavailable"
    default_message = ("The gateway's safety checks could not run, so the request was not "
                       "sent. Please try again.")
    log_level = logging.ERROR


class PIIBlocked(GatewayError):
    status = 400
    type = "invalid_request_error"
    code = "pii_blocked"
    default_message = "The request contains personal data that this gateway may not send on."
    log_level = logging.INFO


class PIIScanTooLarge(PIIBlocked):
    code = "pii_scan_too_large"
    default_message = ("The request holds more text than this gateway checks for personal "
                       "data; send less text in one request.")


class NoCompliantProvider(GatewayError):
    status = 422
    type = "invalid_request_error"
    code = "no_compliant_provider"
    default_message = "No configured provider may receive the data in this request."
    log_level = logging.WARNING


class NoCapableModel(GatewayError):
    status = 422
    type = "invalid_request_error"
    code = "no_capable_model"
    default_message = "No model behind this name supports what this request uses."
    log_level = logging.INFO


class ContentFiltered(GatewayError):
    status = 400
    type = "invalid_request_error"
    code = "content_filtered"
    default_message = "The answer was stopped by the gateway's content checks."
    log_level = logging.WARNING


class OutputSchemaMismatch(GatewayError):
    """The answer did not match the request's ``response_format``, even after a repair."""

    status = 502
    type = "server_error"
    code = "output_schema_mismatch"
    default_message = ("The model's answer did not match the requested JSON schema, even "
                       "after one repair attempt. Please try again.")
    log_level = logging.WARNING


class UpstreamUnavailable(GatewayError):
    status = 503
    type = "server_error"
    code = "upstream_unavailable"
    default_message = (
        "The AI service is temporarily unavailable. Please try again in a few minutes."
    )
    log_level = logging.WARNING


class StoreUnavailable(GatewayError):
    """The database cannot be reached (down, restarting, not connected yet). Raised by
    the stores at their boundary in place of the driver's connection errors."""

    status = 503
    type = "server_error"
    code = "service_unavailable"
    default_message = ("The gateway cannot reach its database right now. Please try again "
                       "in a few seconds.")
    log_level = logging.WARNING

    def __init__(self, message: str | None = None, *, retry_after_s: float | None = 5.0,
                 param: str | None = None) -> None:
        super().__init__(message, retry_after_s=retry_after_s, param=param)


class ServerShuttingDown(GatewayError):
    """The server is stopping and cut the request (a stream ends with this event)."""

    status = 503
    type = "server_error"
    code = "server_shutting_down"
    default_message = ("This gateway is restarting and had to stop this answer. Please send "
                       "the request again.")
    log_level = logging.WARNING

    def __init__(self, message: str | None = None, *, retry_after_s: float | None = 1.0,
                 param: str | None = None) -> None:
        super().__init__(message, retry_after_s=retry_after_s, param=param)


class UpstreamRejected(GatewayError):
    """The provider refused the request itself (e.g. a context window overflow)."""

    status = 400
    type = "invalid_request_error"
    code = "upstream_rejected"
    default_message = "The AI provider could not process this request."
    log_level = logging.INFO


class ConfigRejected(GatewayError):
    """A reloaded configuration failed validation; the message holds check-config's words
    and says that the running configuration stays."""

    status = 422
    type = "invalid_request_error"
    code = "invalid_config"
    default_message = "The new configuration was refused; the running one stays."
    log_level = logging.WARNING


class NotConfigured(GatewayError):
    """An endpoint the gateway has, with nothing configured to answer it; the message
    names the setting that would."""

    status = 501
    type = "invalid_request_error"
    code = "not_configured"
    default_message = "This endpoint is not configured on this gateway."
    log_level = logging.INFO


class ReviewPending(GatewayError):
    """Not a failure: the answer waits for a person (202). Raised by the review step to
    stop the chain; the front door answers with :meth:`payload` (a review to poll)."""

    status = 202
    type = "review_pending"
    code = "review_pending"
    default_message = ("This answer is waiting for a person to review it. Poll the review "
                       "URL for the result.")
    log_level = logging.INFO

    def __init__(self, review_id: str, expires_at: float, poll_s: int = 5) -> None:
        super().__init__()
        self.review_id = review_id
        self.expires_at = expires_at
        self.poll_s = poll_s

    @property
    def url(self) -> str:
        return f"/v1/bastion/reviews/{self.review_id}"

    def payload(self) -> dict[str, object]:
        return {"id": self.review_id, "object": "bastion.review", "status": "pending",
                "message": self.message, "poll_url": self.url,
                "expires_at": int(self.expires_at)}

    def headers(self) -> dict[str, str]:
        return {"Location": self.url, "Retry-After": str(self.poll_s),
                "x-bastion-review-id": self.review_id, "x-bastion-review": "pending"}


class AnswerRejected(GatewayError):
    """A reviewer rejected the held answer; the message is the alias's ``reject_message``."""

    status = 422
    type = "invalid_request_error"
    code = "answer_rejected"
    default_message = "A reviewer decided not to send this answer."
    log_level = logging.INFO


class ReviewExpired(GatewayError):
    status = 410
    type = "invalid_request_error"
    code = "review_expired"
    default_message = ("Nobody reviewed this answer in time, so it will not be sent. Please "
                       "ask again.")
    log_level = logging.INFO


class ProviderError(GatewayError):
    """Raised by adapters only. ``provider_status`` is the vendor's HTTP status, if any."""

    status = 502
    type = "server_error"
    code = "upstream_error"
    default_message = "The AI provider returned an error."
    log_level = logging.WARNING
    retryable: ClassVar[bool] = True
    # False for failures on this side of the wire (no free local connection slot):
    # circuit breakers do not count them against the provider
    provider_fault: ClassVar[bool] = True

    def __init__(
        self,
        message: str | None = None,
        *,
        provider_status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message, retry_after_s=retry_after_s)
        self.provider_status = provider_status


class ProviderRateLimited(ProviderError):
    default_message = "The AI provider is rate limiting this gateway."


class ProviderServerError(ProviderError):
    default_message = "The AI provider had an internal error."


class ProviderAuthError(ProviderError):
    default_message = "The gateway's credentials for the AI provider were refused."
    log_level = logging.ERROR


class ProviderBadRequest(ProviderError):
    default_message = "The AI provider could not process this request."
    retryable = False


class ProviderTimeout(ProviderError):
    default_message = "The AI provider did not answer in time."


class ProviderConnectionError(ProviderError):
    default_message = "The AI provider could not be reached."


class ProviderBadResponse(ProviderError):
    default_message = "The AI provider sent an answer the gateway could not read."


class ProviderAnswerTooLarge(ProviderBadResponse):
    default_message = "The AI provider sent an answer larger than this gateway accepts."
    retryable = False


class ProviderRedirected(ProviderError):
    default_message = ("The AI provider answered with a redirect, which the gateway never "
                       "follows (its keys must not reach another host).")
    log_level = logging.ERROR
    retryable = False


class ProviderBusy(ProviderError):
    default_message = "The gateway has no free connection to this AI provider right now."
    retryable = False
    provider_fault = False


class ProviderStreamBroken(ProviderError):
    default_message = "The AI provider's stream ended unexpectedly."
