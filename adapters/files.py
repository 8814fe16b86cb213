"""Files Nik hands out on Teams (manual pages as PDF, page images): kept for a while under
``NIK_DATA_DIR/files/outgoing``, fetched once by the file-consent upload or through an
expiring HMAC-signed link ``NIK_PUBLIC_URL/files/<token>/<name>?exp=…&sig=…``.

The signature covers the token and the expiry, so a link serves exactly the file it was
made for and only until it expires; the secret is ``NIK_FILE_LINK_SECRET`` or one derived
from the Teams app password (else one kept in the data folder, shared by replicas there).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from bot.config import Settings

ROUTE = "/files/{token}/{name}"
_TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


@dataclass(frozen=True, slots=True)
class Shelved:
    data: bytes
    name: str
    mime: str


class FileShelf:
    def __init__(self, folder: Path, secret: bytes, public_url: str | None, seconds: float) -> None:
        self._folder = folder
        self._secret = secret
        self.public_url = public_url.rstrip("/") if public_url else None
        self.seconds = seconds

    @classmethod
    def from_settings(cls, settings: Settings) -> FileShelf:
        folder = settings.data_dir / "files" / "outgoing"
        return cls(folder, _secret(settings, folder.parent), settings.public_url, settings.file_link_hours * 3600)

    def put(self, data: bytes, name: str, mime: str) -> str:
        """Keep the file until it expires; its token."""
        self._folder.mkdir(parents=True, exist_ok=True)
        now = time.time()
        for old in self._folder.glob("*.json"):  # sweep what has expired
            if json.loads(old.read_text(encoding="utf-8"))["expires"] < now:
                old.unlink(missing_ok=True)
                old.with_suffix(".bin").unlink(missing_ok=True)
        token = secrets.token_urlsafe(18)
        self._path(token, ".bin").write_bytes(data)
        meta = {"name": name, "mime": mime, "expires": now + self.seconds}
        self._path(token, ".json").write_text(json.dumps(meta), encoding="utf-8")
        return token

    def get(self, token: str) -> Shelved | None:
        """The file ``token`` names while it has not expired."""
        if not token or not set(token) <= _TOKEN_CHARS:
            return None
        meta_path = self._path(token, ".json")
        if not meta_path.is_file():
            return None
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta["expires"] < time.time():
            return None
        return Shelved(self._path(token, ".bin").read_bytes(), str(meta["name"]), str(meta["mime"]))

    def link(self, token: str, name: str, now: float | None = None) -> str:
        """The signed link to the file (``NIK_PUBLIC_URL`` must be set)."""
        assert self.public_url is not None
        expires = int((time.time() if now is None else now) + self.seconds)
        return f"{self.public_url}/files/{token}/{quote(name)}?exp={expires}&sig={self.signature(token, expires)}"

    def signature(self, token: str, expires: int) -> str:
        return hmac.new(self._secret, f"{token}:{expires}".encode(), hashlib.sha256).hexdigest()

    def verify(self, token: str, expires: str, signature: str) -> bool:
        if not expires.isdigit() or int(expires) < time.time():
            return False
        return hmac.compare_digest(self.signature(token, int(expires)), signature)

    def _path(self, token: str, suffix: str) -> Path:
        return self._folder / f"{token}{suffix}"


def _secret(settings: Settings, folder: Path) -> bytes:
    if settings.file_link_secret is not None:
        return settings.file_link_secret.get_secret_value().encode()
    if settings.teams_app_password is not None:
        password = settings.teams_app_password.get_secret_value().encode()
        return hmac.new(password, b"nik file links", hashlib.sha256).digest()
    key = folder / "link.key"
    if not key.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        key.write_text(secrets.token_hex(32), encoding="utf-8")
    return key.read_text(encoding="utf-8").strip().encode()
