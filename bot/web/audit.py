"""Published audit checkpoints and the key that signs them, for anyone to fetch and keep.

``GET /audit/checkpoint`` (the latest), ``GET /audit/checkpoints/<size>`` and
``GET /audit/public-key``. A monitor that stores what it fetches holds copies the database can't
rewrite; ``compliance-bot audit verify --checkpoint URL`` compares the chain with one. Read-only
and public by design: a checkpoint reveals the log's size and a hash, nothing of its content.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app

from bot.audit import checkpoints

blueprint = Blueprint("audit", __name__)
NOTE = "text/plain; charset=utf-8"


@blueprint.get("/audit/checkpoint")
def latest() -> Any:
    taken = checkpoints.latest(current_app.extensions["compliance-bot"].store)
    if taken is None:
        return Response("no checkpoint yet\n", 404, mimetype="text/plain")
    return Response(taken.note(), 200, content_type=NOTE, headers={"Cache-Control": "no-cache"})


@blueprint.get("/audit/checkpoints/<int:size>")
def at_size(size: int) -> Any:
    taken = checkpoints.at_size(current_app.extensions["compliance-bot"].store, size)
    if taken is None:
        return Response(f"no checkpoint at size {size}\n", 404, mimetype="text/plain")
    # a checkpoint never changes once signed
    return Response(
        taken.note(), 200, content_type=NOTE, headers={"Cache-Control": "max-age=86400"}
    )


@blueprint.get("/audit/public-key")
def public_key() -> Any:
    services = current_app.extensions["compliance-bot"]
    signer = checkpoints.load_signer(services.settings)
    assert signer is not None
    verifier = signer.verifier
    body = f"{verifier.pem}# key name: {verifier.name}\n# key id: {verifier.key_id}\n"
    body += f"# verifier key: {verifier.vkey}\n"
    return Response(body, 200, content_type=NOTE)
