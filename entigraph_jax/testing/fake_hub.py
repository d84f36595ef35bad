"""A fake Hugging Face Hub: the part of its HTTP API that `huggingface_hub.HfApi.create_repo` and
`upload_folder` speak (repository creation, YAML validation, pre-upload, an NDJSON commit with files
inline), keeping what it receives so tests can read the uploaded folder back.

    hub = FakeHub().start()
    api = huggingface_hub.HfApi(endpoint=hub.url, token="hf_test")

Faults: `refuse=True` answers every write with 403, as the Hub does for a token without write access.
The token is checked to be present and never kept.
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeHub:
    def __init__(self, refuse: bool = False):
        self.refuse = refuse
        self.repos: dict[str, dict] = {}  # "org/name" -> {"type": ..., "private": ...}
        self.files: dict[str, dict[str, bytes]] = {}  # "org/name" -> {path: content}
        self.commits: list[dict] = []  # {"repo", "summary", "paths"}
        self.requests: list[str] = []  # "METHOD path"
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> FakeHub:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server method name
                size = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(size) if size else b""
                hub.requests.append(f"POST {self.path}")
                if not self.headers.get("authorization", "").startswith("Bearer "):
                    return self._answer(401, {"error": "Invalid credentials in Authorization header"})
                if hub.refuse:
                    return self._answer(403, {"error": "You don't have the rights to create a repository here"})
                return self._answer(200, hub.respond(self.path, body))

            def _answer(self, status: int, payload: dict):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def respond(self, path: str, body: bytes) -> dict:
        if path == "/api/repos/create":
            request = json.loads(body)
            repo = f"{request['organization']}/{request['name']}"
            kind = request.get("type", "model")
            self.repos.setdefault(repo, {"type": kind, "private": request.get("visibility") == "private"})
            self.files.setdefault(repo, {})
            return {"url": f"{self.url}/{'' if kind == 'model' else kind + 's/'}{repo}", "name": repo}
        if path == "/api/validate-yaml":
            return {"errors": [], "warnings": []}
        kind, org, name, action, _revision = path.removeprefix("/api/").split("/")
        repo = f"{org}/{name}"
        if action == "preupload":
            files = json.loads(body)["files"]
            return {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]}
        lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        header = next(line["value"] for line in lines if line["key"] == "header")
        received = {line["value"]["path"]: base64.b64decode(line["value"]["content"])
                    for line in lines if line["key"] == "file"}
        self.files[repo].update(received)
        self.commits.append({"repo": repo, "summary": header["summary"], "paths": sorted(received)})
        prefix = "" if kind == "models" else f"{kind}/"
        return {"commitUrl": f"{self.url}/{prefix}{repo}/commit/{'0' * 40}", "commitOid": "0" * 40, "success": True}
