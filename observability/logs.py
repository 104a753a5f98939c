"""Log lines: text for a terminal, or one JSON object a line (LOG_FORMAT=json) for a log pipeline."""

import json
import logging
from datetime import UTC, datetime
from typing import Any, Literal

from observability.request_id import REQUEST_ID

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"


class RequestIdFilter(logging.Filter):
    """Puts the current request id (or "-") on every record, as `record.request_id`."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", "-")
        if request_id != "-":
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def log_handler(log_format: LogFormat) -> logging.Handler:
    """A stderr handler writing `log_format`, with the request id on every line."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    return handler


def configure_logging(log_format: LogFormat) -> None:
    """The root logger's one handler, at INFO (`python main.py`)."""
    logging.basicConfig(level=logging.INFO, handlers=[log_handler(log_format)], force=True)
