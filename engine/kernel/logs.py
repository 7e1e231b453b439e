"""Logging for the whole process: one line per record, JSON in production, readable in development.

Every record carries the id of the request it was written for (``request_id``) and the caller's
user id, read from context variables the HTTP layer sets at the start of each request; aiohttp
runs each request in its own task, so the values never leak into another request's lines.

Structured fields go in ``extra``: ``log.info("request", extra={"status": 200})`` becomes
``{"msg": "request", "status": 200, ...}`` in JSON and ``request status=200`` in text. Guard
expensive ``extra`` dicts with ``log.isEnabledFor(level)`` so a disabled level costs nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import logging.handlers
import os
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from engine.kernel import settings as registry

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
user_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("user_id", default=None)

# Attributes every LogRecord has; anything else on a record came from `extra`.
_EXTRA = "_engine_extra"  # log_fast keeps its `extra` mapping on the record under this name too
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id", "user_id", _EXTRA}
_HANDLER_NAME = "resource-engine"


class RequestContextFilter(logging.Filter):
    """Copies the current request id and user id onto each record (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.user_id = user_id_var.get()
        return True


def _extra(record: logging.LogRecord) -> dict:
    """The record's `extra` fields, in the order given. The key-set difference runs in C: a line
    without extra fields (most, and every event line of a bulk write), or a `log_fast` line whose
    fields no filter added to, skips the walk over its two dozen standard attributes."""
    fields = record.__dict__
    added = fields.keys() - _STANDARD
    if not added:
        return {}
    given = fields.get(_EXTRA)
    if given is not None and added == given.keys():  # log_fast's, no filter added any: no walk
        return {key: fields[key] for key in given}  # as they are now (a filter may have changed one)
    return {key: value for key, value in fields.items() if key not in _STANDARD}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, request_id, user_id, extra fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        line = json_line(
            record.created,
            record.levelname.lower(),
            record.name,
            record.getMessage(),
            getattr(record, "request_id", None),
            getattr(record, "user_id", None),
            _extra(record),
        )
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json_text(line)


def json_text(line: dict[str, Any]) -> str:
    """The line as JSON. A request byte that is not UTF-8 reaches a string as a lone surrogate
    (aiohttp decodes headers and targets with surrogateescape), which JSON cannot hold: such a
    line is written with the byte escaped (`caf\\xe9`) rather than lost to a logging error."""
    try:
        return orjson.dumps(line, default=str).decode()
    except TypeError:
        return orjson.dumps(_escaped(line), default=str).decode()


def _escaped(value: Any) -> Any:
    if isinstance(value, str):
        try:
            raw = value.encode("utf-8", "surrogateescape")  # the bytes the client sent
        except UnicodeEncodeError:  # a surrogate no byte stands for (a JSON escape, say)
            raw = value.encode("utf-8", "backslashreplace")
        return raw.decode("utf-8", "backslashreplace")
    if isinstance(value, dict):
        return {_escaped(key): _escaped(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_escaped(item) for item in value]
    return value


def json_line(
    created: float, level: str, logger: str, msg: str, request_id: Any, user_id: Any, extra: Mapping[str, Any]
) -> dict[str, Any]:
    """A JSON line's fields in their order: the formatter's for a record, `_Stream.write_line`'s without one."""
    return {
        "ts": _iso(created),
        "level": level,
        "logger": logger,
        "msg": msg,
        "request_id": request_id,
        "user_id": user_id,
        "pid": _PID[0],
        **extra,
    }


class TextFormatter(logging.Formatter):
    """``12:00:01 INFO engine.access GET /api/agents 200 3.1ms [rid] key=value ...`` for a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")

    def formatMessage(self, record: logging.LogRecord) -> str:
        text = super().formatMessage(record)
        fields = _extra(record)
        if fields:
            text += " " + " ".join(f"{key}={value}" for key, value in fields.items())
        request_id = getattr(record, "request_id", None)
        return f"{text} [{request_id}]" if request_id else text


_PID = [os.getpid()]  # records skip their own os.getpid() (logProcesses is off): one per process
os.register_at_fork(after_in_child=lambda: _PID.__setitem__(0, os.getpid()))
_SECOND: list = [None, ""]  # the last whole second formatted, and its text


def _iso(created: float) -> str:
    second = int(created)
    if second != _SECOND[0]:
        _SECOND[0], _SECOND[1] = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
    return f"{_SECOND[1]}.{int(created % 1 * 1000):03d}Z"


_TEMPLATES: dict[tuple, dict[str, Any]] = {}  # (logger name, logging's switches) -> a record's constant part


def log_fast(logger: logging.Logger, level: int, msg: str, args: tuple, extra: Mapping[str, Any]) -> None:
    """``logger.log(level, msg, *args, extra=extra)`` for a line written on every request.

    A LogRecord's ``__init__`` works out a dozen attributes that are the same on every record of a
    process once ``configure_logging`` has switched off the caller, thread and process lookups;
    here they are copied from a template made by LogRecord itself, so handlers, filters and
    formatters see the very attributes a normal record has. With those lookups on, or a custom
    record factory, this is ``logger.log`` as it stands. Where the engine's JSON stderr handler is
    the only place the line goes, no record is made at all (`_sole_json_stream`). The caller checks
    ``isEnabledFor``.
    """
    switches = (logging._srcfile, logging.logThreads, logging.logProcesses, logging.logMultiprocessing)
    if switches != (None, False, False, False) or logging.getLogRecordFactory() is not logging.LogRecord:
        logger.log(level, msg, *args, extra=extra)
        return
    direct = None if extra.keys() & _STANDARD else _sole_json_stream(logger, level)
    if direct is not None and direct.write_line(level, logger.name, msg, args, extra):
        return
    template = _TEMPLATES.get((logger.name, switches))
    if template is None:
        template = _TEMPLATES[(logger.name, switches)] = logger.makeRecord(
            logger.name, logging.INFO, "(unknown file)", 0, "", (), None, "(unknown function)"
        ).__dict__
    record = logging.LogRecord.__new__(logging.LogRecord)
    fields = record.__dict__
    fields.update(template)
    now = time.time()
    fields.update(extra)
    fields[_EXTRA] = extra
    fields["msg"], fields["args"] = msg, args
    fields["levelname"], fields["levelno"] = logging.getLevelName(level), level
    fields["created"], fields["msecs"] = now, int((now - int(now)) * 1000) + 0.0
    fields["relativeCreated"] = template["relativeCreated"] + (now - template["created"]) * 1000
    logger.handle(record)


_HANDLE, _CALL_HANDLERS = logging.Logger.handle, logging.Logger.callHandlers  # as logging defines them


def _sole_json_stream(logger: logging.Logger, level: int) -> _Stream | None:
    """The engine's JSON stderr handler when a record of `logger` at `level` would reach it and
    nothing else: no filter on the loggers it passes, no other handler on the way, and the handler
    with only its own context filter and JSON formatter. Then `log_fast` writes the line itself
    (`_Stream.write_line`), the very text the record would have become; any other set-up (a
    deployment's filter or handler, the text format, the log file, a patched `Logger`) takes
    logging's own path."""
    if logging.Logger.handle is not _HANDLE or logging.Logger.callHandlers is not _CALL_HANDLERS:
        return None  # patched by an error tracker's integration (Sentry's breadcrumbs): it must see records
    found = None
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters or current.disabled:
            return None
        for handler in current.handlers:
            if found is not None or type(handler) is not _Stream:
                return None
            found = handler
        if not current.propagate:
            break
        current = current.parent
    if found is None or level < found.level or type(found.formatter) is not JsonFormatter:
        return None
    filters = found.filters
    if len(filters) != 1 or type(filters[0]) is not RequestContextFilter:
        return None
    return found


@dataclass(frozen=True)
class LogSettings:
    level: str = "INFO"
    format: str = "text"  # text | json
    file: str | None = None
    max_bytes: int = 10 * 1024 * 1024
    backups: int = 5

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, log_file: str | None = None) -> LogSettings:
        """ENGINE_LOG_LEVEL, ENGINE_LOG_FORMAT (default: json in production), ENGINE_LOG_FILE ... from `env`."""

        def read(name: str) -> Any:
            return registry.value(name, env)

        production = read("ENGINE_ENV") == "production"
        return cls(
            level=read("ENGINE_LOG_LEVEL"),
            format=read("ENGINE_LOG_FORMAT") or ("json" if production else "text"),
            file=log_file or read("ENGINE_LOG_FILE"),
            max_bytes=read("ENGINE_LOG_MAX_BYTES"),
            backups=read("ENGINE_LOG_BACKUPS"),
        )


class _FlushOncePerTurn:
    """Flush the stream once per event-loop turn instead of once per line.

    logging's stream handlers flush (one write system call) after every record they emit: a
    request's access line, or a thousand event lines after a bulk write. A record emitted in the
    loop's thread has its flush scheduled for the end of the current turn, once however many lines
    the turn wrote, so a line reaches the file or pipe as soon as the code that wrote it yields;
    elsewhere (another thread, no loop: the command line, start-up) it flushes at once, and an
    explicit ``flush()`` (logging.shutdown at exit, a test reading the file) always does.
    """

    _loop: asyncio.AbstractEventLoop | None = None  # set while emitting in a loop's thread
    _emitter = 0  # that thread
    _flush_pending = False

    def emit(self, record: logging.LogRecord) -> None:
        with self._in_turn():
            super().emit(record)  # type: ignore[misc]

    @contextlib.contextmanager
    def _in_turn(self) -> Iterator[None]:
        """While a line is written: the running loop, if any, so `flush` can wait for the turn's end."""
        try:
            self._loop, self._emitter = asyncio.get_running_loop(), threading.get_ident()
        except RuntimeError:
            self._loop = None
        try:
            yield
        finally:
            self._loop = None

    def flush(self) -> None:
        loop = self._loop
        if loop is None or self._emitter != threading.get_ident():  # not inside a loop's emit: now
            super().flush()  # type: ignore[misc]
        elif not self._flush_pending:
            self._flush_pending = True
            loop.call_soon(self._flush_now)

    def _flush_now(self) -> None:
        self._flush_pending = False
        super().flush()  # type: ignore[misc]


class _Stream(_FlushOncePerTurn, logging.StreamHandler):
    """stderr, flushed once per event-loop turn."""

    def write_line(self, level: int, name: str, msg: str, args: tuple, extra: Mapping[str, Any]) -> bool:
        """Write what `JsonFormatter` makes of a record of these parts, without the record: the
        request line's cost was mostly the LogRecord, the logger walk and the formatter's lookups.
        False (nothing written) when the parts do not format cleanly: the caller then goes
        through logging, which reports the problem as it always does."""
        level_name = _LEVEL_NAMES.get(level) or logging.getLevelName(level).lower()
        try:
            message = msg % args if args else msg
            line = json_line(time.time(), level_name, name, message, request_id_var.get(), user_id_var.get(), extra)
            text = json_text(line)
        except Exception:
            return False
        with self.lock, self._in_turn():  # type: ignore[union-attr]  # as Handler.handle holds the lock
            try:
                self.stream.write(text + self.terminator)
                self.flush()
            except Exception:  # as StreamHandler.emit: logging's own report, never the caller's error
                self.handleError(logging.makeLogRecord({"msg": text, "levelno": level, "name": name}))
        return True


_LEVEL_NAMES = {level: logging.getLevelName(level).lower() for level in (10, 20, 30, 40, 50)}


class _RotatingFile(_FlushOncePerTurn, logging.handlers.RotatingFileHandler):
    """The standard size-rotated file, formatting each record once, flushed once per loop turn.

    ``shouldRollover`` formats the record to measure it and ``emit`` formats it again to write it:
    the second call gets the first one's text (both run under the handler's lock, in one ``handle``).
    """

    _last: tuple[logging.LogRecord | None, str] = (None, "")

    def format(self, record: logging.LogRecord) -> str:
        last, text = self._last
        if last is not record:
            text = super().format(record)
            self._last = (record, text)
        return text


def build_handler(settings: LogSettings) -> logging.Handler:
    """stderr, or a size-rotated file (``max_bytes`` per file, ``backups`` old files kept)."""
    if settings.file:
        directory = os.path.dirname(os.path.abspath(settings.file))
        os.makedirs(directory, exist_ok=True)
        handler: logging.Handler = _RotatingFile(
            settings.file,
            maxBytes=settings.max_bytes,
            backupCount=settings.backups,
            encoding="utf-8",
            errors="backslashreplace",  # a text line holding a request byte that is not UTF-8
        )
    else:
        handler = _Stream(sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.format == "json" else TextFormatter())
    handler.addFilter(RequestContextFilter())
    handler.set_name(_HANDLER_NAME)
    return handler


def configure_logging(settings: LogSettings) -> logging.Handler:
    """Install one handler on the root logger (replacing a previous one of ours); idempotent."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME or _is_default_stream(h)]:
        root.removeHandler(old)
        old.close()
    handler = build_handler(settings)
    root.addHandler(handler)
    root.setLevel(settings.level)
    # Our formats use none of these: skip looking them up for every record (logging's "Optimization").
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None
    logging.getLogger("aiohttp.access").propagate = False  # the engine writes its own request lines
    return handler


def is_configured() -> bool:
    """True once ``configure_logging`` installed its handler in this process (or in the parent before a fork)."""
    return any(h.get_name() == _HANDLER_NAME for h in logging.getLogger().handlers)


def _is_default_stream(handler: logging.Handler) -> bool:
    """A bare StreamHandler from logging.basicConfig (the CLI's default), replaced by ours."""
    return type(handler) is logging.StreamHandler and handler.get_name() is None
