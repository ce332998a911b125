"""A webhook receiver for ``benchmarks/webhooks.py``: verifies every signature, counts ids.

Run as ``python benchmarks/_webhooks_receiver.py PORT SECRET``. ``POST /ok`` answers 200; ``POST
/flaky`` answers 503 + ``Retry-After: 0`` the first time it sees one id in five (by CRC32 of the id),
200 after that. ``GET /stats`` returns the counts as JSON; ``POST /reset`` clears them.
"""

from __future__ import annotations

import json
import sys
import zlib
from collections import Counter
from typing import Any

import uvicorn

from buttress.webhooks import WebhookVerificationError, WebhookVerifier


def make_app(secret: str) -> Any:
    verifier = WebhookVerifier(secret)
    ok: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    rejected = [0]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        status, payload, extra = 200, b"ok", []
        if path == "/stats":
            payload = json.dumps({"ok": ok, "refused": refused, "rejected": rejected[0]}).encode()
        elif path == "/reset":
            ok.clear()
            refused.clear()
            rejected[0] = 0
        else:
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            try:
                webhook = verifier.verify(headers, body)
            except WebhookVerificationError:
                rejected[0] += 1
                status, payload = 401, b"bad signature"
            else:
                key = str(webhook.id)
                if path == "/flaky" and key not in refused and zlib.crc32(key.encode()) % 5 == 0:
                    refused[key] += 1
                    status, payload, extra = 503, b"busy", [(b"retry-after", b"0")]
                else:
                    ok[key] += 1
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-length", str(len(payload)).encode()), *extra],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    return app


if __name__ == "__main__":
    uvicorn.run(
        make_app(sys.argv[2]), host="127.0.0.1", port=int(sys.argv[1]), log_level="error", access_log=False
    )
