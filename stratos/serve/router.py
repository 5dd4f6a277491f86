"""The FastAPI app: routes (thin: parse, call ``OpenAIServing``, map to a response), auth and error mapping.

Every client error leaves as OpenAI's error shape with a 4xx: validation
errors (malformed JSON, missing fields, wrong types, out-of-range values)
become 400 instead of FastAPI's 422, unknown paths 404, and even an
unexpected failure is answered in the same shape (500) rather than a bare
traceback. ``/health`` and ``/metrics`` need no token (a load balancer and a
Prometheus scraper poll them; neither reveals prompts or the token); every
``/v1`` route does, checked by ``RequestGuard`` before the body is read (the
bearer dependency below only declares the scheme in the OpenAPI spec).
``/docs``, ``/redoc`` and ``/openapi.json`` exist only when ``docs`` is on
(the server turns them on for loopback binds only).
"""

# No `from __future__ import annotations` here: FastAPI must see the real types of the
# dependencies declared inside build_app (they close over local objects).
import logging
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr
from starlette.exceptions import HTTPException as StarletteHTTPException

from stratos.serve.auth import token_matches
from stratos.serve.guard import RequestGuard, unauthorized
from stratos.serve.metrics import MetricsMiddleware
from stratos.serve.protocol import (
    ChatCompletionRequest,
    ChatCompletionResponse,
    CompletionRequest,
    CompletionResponse,
    ErrorResponse,
    HealthResponse,
    ModelList,
)
from stratos.serve.serving import ApiError, OpenAIServing, error

log = logging.getLogger("stratos.serve")

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorResponse,
        "description": "Invalid request (bad JSON, field, value or length).",
    },
    401: {"model": ErrorResponse, "description": "Missing or wrong bearer token."},
    404: {"model": ErrorResponse, "description": "Unknown model."},
    413: {"model": ErrorResponse, "description": "Request body over the server's limit."},
    429: {
        "model": ErrorResponse,
        "description": "The server's queue is full; retry after the Retry-After header's seconds.",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    },
}
# One server-sent event: `data` is a JSON chunk (chat.completion.chunk / text_completion),
# an error object, or the final "[DONE]".
_SSE_EVENT = {
    "type": "object",
    "required": ["data"],
    "properties": {"data": {"type": "string"}, "event": {"type": "string"}},
}
_STREAMABLE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/event-stream": {"schema": _SSE_EVENT}},
        "description": "JSON, or server-sent events when stream=true.",
    },
    **_ERRORS,
}


class _ApiErrorException(Exception):
    def __init__(self, err: ApiError):
        self.err = err


def _reply(err: ApiError) -> JSONResponse:
    return JSONResponse(err.body.model_dump(), status_code=err.status, headers=err.headers)


def build_app(
    serving: OpenAIServing,
    *,
    token: SecretStr | None,
    verified: bool,
    docs: bool = True,
    max_body_bytes: int = 1 << 20,
) -> FastAPI:
    """The ASGI app for one loaded model. ``token=None`` disables auth (only with --no-auth)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        serving.batcher.start()
        try:
            yield
        finally:
            serving.batcher.stop()

    app = FastAPI(
        title="Stratos OpenAI-compatible server",
        version="1",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.serving = serving
    _add_error_handlers(app)
    _add_ops_routes(app, serving, verified)
    _add_api_routes(app, serving, [Depends(_token_check(token))])
    routes = {r.path for r in app.routes if hasattr(r, "path")}
    app.add_middleware(RequestGuard, token=token, max_body_bytes=max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=serving.metrics, routes=routes)
    return app


_BEARER = HTTPBearer(auto_error=False, description="The API token (STRATOS_API_TOKEN or --token-file).")


def _token_check(token: SecretStr | None) -> Callable[..., Awaitable[None]]:
    """The ``/v1`` routes' dependency: the bearer scheme for the OpenAPI spec, and the check itself
    (``RequestGuard`` has refused a wrong token before the body is read; this is the second lock)."""

    # async: FastAPI runs a plain function dependency in its thread pool, a hop per request.
    async def require_token(
        request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]
    ) -> None:
        if token is not None and not token_matches(token, request.headers.get("authorization")):
            raise _ApiErrorException(unauthorized())

    return require_token


def _add_error_handlers(app: FastAPI) -> None:
    """Every failure leaves in OpenAI's error shape (see the module docstring)."""

    @app.exception_handler(_ApiErrorException)
    async def _api_error(_: Request, exc: _ApiErrorException) -> JSONResponse:
        return _reply(exc.err)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _reply(_validation_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        return _reply(error(exc.status_code, str(exc.detail), type=kind))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error while serving a request")
        return _reply(error(500, f"internal error: {type(exc).__name__}", type="server_error"))


def _validation_error(exc: RequestValidationError) -> ApiError:
    """A 400 naming the first invalid field (FastAPI would answer 422 with its own shape)."""
    first = exc.errors()[0] if exc.errors() else {}
    if first.get("type") == "json_invalid":
        detail = first.get("ctx", {}).get("error", "parse error")
        return error(400, f"the request body is not valid JSON ({detail}).")
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    where = ".".join(loc) or "body"
    return error(400, f"{where}: {first.get('msg', 'invalid request')}", param=where if loc else None)


def _add_ops_routes(app: FastAPI, serving: OpenAIServing, verified: bool) -> None:
    """``/health`` and ``/metrics``: no token (a load balancer and a scraper poll them)."""

    @app.get("/health", response_model=HealthResponse, tags=["ops"])
    async def health() -> HealthResponse:
        # The app only exists once the model is loaded and (unless --no-verify) verified.
        return HealthResponse(status="ok", model=serving.model_name, verified=verified)

    @app.get(
        "/metrics",
        tags=["ops"],
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def metrics() -> Response:
        return Response(serving.metrics.render(), media_type=serving.metrics.content_type)


def _add_api_routes(app: FastAPI, serving: OpenAIServing, auth: list[Any]) -> None:
    """The OpenAI routes: thin (parse, call ``serving``, map the result to a response)."""

    @app.get("/v1/models", response_model=ModelList, dependencies=auth, responses=_ERRORS)
    async def models() -> ModelList:
        return serving.models()

    @app.post(
        "/v1/chat/completions",
        response_model=ChatCompletionResponse,
        dependencies=auth,
        responses=_STREAMABLE,
    )
    async def chat(req: ChatCompletionRequest) -> Any:
        return _respond(await serving.chat(req))

    @app.post(
        "/v1/completions",
        response_model=CompletionResponse,
        dependencies=auth,
        responses=_STREAMABLE,
    )
    async def completions(req: CompletionRequest) -> Any:
        return _respond(await serving.completion(req))


def _respond(result: Any) -> Any:
    if isinstance(result, ApiError):
        return _reply(result)
    if hasattr(result, "__aiter__"):
        return StreamingResponse(
            result,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    return result
