"""The batch side of the fake LLM server: OpenAI's Batch API (files, batches, output and error files)
and Gemini's batch mode (`models/M:batchGenerateContent` with inline requests, `batches/N`).

A batch answers like the online endpoints, after `polls` status requests. Faults are queued per
batch with `inject_batch(...)`: "expired" (the second half of its requests never answered), "partial"
(every third request a 500, every fifth a 400), "failed" (the batch fails validation), "lost_create"
(the batch is created but the create call gets a 500, as when its answer is lost on the way).
A running batch can be cancelled (OpenAI's `POST batches/ID/cancel`, Gemini's `batches/ID:cancel`): at
its next status request it ends cancelled with the first half of its requests answered, as a real one
keeps what it finished before the cancel; cancelling an ended batch is refused with a 400.
"""

from __future__ import annotations

import collections
import itertools
import json
import threading
import time


class FakeBatches:
    def __init__(self, answer, polls: int = 1):
        self.answer = answer  # (prompt, json_mode) -> text, as the online endpoints answer
        self.polls = polls  # status requests a batch takes to finish (a large number: it never does)
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}  # id -> batch (OpenAI's fields, plus our own under "_")
        self.faults: collections.deque[str] = collections.deque()
        self.created = 0  # batches created, whatever the create call's answer
        self.cancelled: list[str] = []  # ids of the batches cancelled, in order
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def inject_batch(self, *faults: str) -> None:
        with self._lock:
            self.faults.extend(faults)

    def submitted(self) -> list[str]:
        """custom_id of every request in every batch created, in order (one entry per submission)."""
        with self._lock:
            batches = list(self.batches.values())
        return [line["custom_id"] for b in batches for line in b["_"]["lines"]]

    def respond(self, method: str, path: str, query: dict, body) -> tuple[int, dict | bytes] | None:
        """(status, JSON or raw bytes) for a batch endpoint; None for any other path."""
        if method == "POST" and "/batches/" in path and path.endswith(("/cancel", ":cancel")):
            return self._cancel(path.split("/batches/")[1][: -len("/cancel")], gemini=path.endswith(":cancel"))
        gemini_batch = self.batches.get(path.split("/batches/")[-1], {}).get("display_name") is not None
        if ":batchGenerateContent" in path or "pageSize" in query or gemini_batch:
            return self._gemini(method, path, body)
        if path.endswith("/files") and method == "POST":
            file_id = f"file-{next(self._ids)}"
            self.files[file_id] = body["file"]
            return 200, {"id": file_id, "object": "file", "bytes": len(body["file"]), "purpose": body.get("purpose")}
        if path.endswith("/content") and "/files/" in path:
            file_id = path.split("/files/")[1].split("/")[0]
            return (200, self.files[file_id]) if file_id in self.files else (404, _error(404, "no such file"))
        if path.endswith("/batches") and method == "POST":
            return self._create_openai(body)
        if path.endswith("/batches") and method == "GET":
            newest = sorted(self.batches.values(), key=lambda b: -b["_"]["order"])
            after = query.get("after")
            if after:
                newest = newest[[b["id"] for b in newest].index(after) + 1:]
            limit = int(query.get("limit", 20))
            page = [_public(b) for b in newest[:limit]]
            return 200, {"object": "list", "data": page, "has_more": len(newest) > limit}
        if "/batches/" in path and method == "GET":
            batch = self.batches.get(path.split("/batches/")[1])
            if batch is None:
                return 404, _error(404, "no such batch")
            self._advance(batch)
            return 200, _public(batch)
        return None

    def _new(self, lines: list[dict], fields: dict) -> tuple[dict, str | None]:
        with self._lock:
            fault = self.faults.popleft() if self.faults else None
            self.created += 1
            batch_id = f"batch_{next(self._ids)}"
            batch = {"id": batch_id, "object": "batch", "status": "validating", "created_at": int(time.time()),
                     "output_file_id": None, "error_file_id": None, "errors": None,
                     "request_counts": {"total": len(lines), "completed": 0, "failed": 0}, **fields,
                     "_": {"lines": lines, "fault": fault, "polls": 0, "order": len(self.batches)}}
            self.batches[batch_id] = batch
        return batch, fault

    def _create_openai(self, body: dict):
        raw = self.files.get(body.get("input_file_id"))
        if raw is None:
            return 400, _error(400, "no such input file")
        lines = [json.loads(line) for line in raw.splitlines() if line.strip()]
        batch, fault = self._new(lines, {"input_file_id": body["input_file_id"], "endpoint": body.get("endpoint"),
                                         "metadata": body.get("metadata") or {}})
        if fault == "lost_create":
            return 500, _error(500, "the create call's answer was lost")
        return 200, _public(batch)

    def _cancel(self, batch_id: str, gemini: bool):
        batch = self.batches.get(batch_id)
        if batch is None:
            return 404, _error(404, "no such batch")
        if batch["status"] not in ("validating", "in_progress"):
            return 400, _error(400, f"Cannot cancel a batch with status {batch['status']}")
        batch["status"], batch["_"]["fault"] = "cancelling", "cancelled"
        self.cancelled.append(batch_id)
        return 200, {} if gemini else _public(batch)

    def _ends_now(self, batch: dict) -> bool:
        """Count a status request; True if the batch ends now with answers (at `polls`, unless its
        fault fails it; at once when cancelled)."""
        own = batch["_"]
        own["polls"] += 1
        if batch["status"] == "cancelling":
            return True
        if batch["status"] not in ("validating", "in_progress"):
            return False
        if own["polls"] < self.polls:
            batch["status"] = "in_progress"
            return False
        if own["fault"] == "failed":
            batch["status"] = "failed"
            batch["errors"] = {"data": [{"code": "invalid_request", "message": "the input file failed validation"}]}
            return False
        return True

    def _advance(self, batch: dict) -> None:
        """An OpenAI batch, at a status request: its output and error files once it ends."""
        if not self._ends_now(batch):
            return
        own = batch["_"]
        outputs, errors = [], []
        for i, line in enumerate(own["lines"]):
            result = self._answer_line(line, i, own["fault"], len(own["lines"]))
            (outputs if (result.get("response") or {}).get("status_code") == 200 else errors).append(result)
        batch["status"] = own["fault"] if own["fault"] in ("expired", "cancelled") else "completed"
        batch["request_counts"].update(completed=len(outputs), failed=len(errors))
        for name, rows in (("output_file_id", outputs), ("error_file_id", errors)):
            if rows:
                file_id = f"file-{next(self._ids)}"
                self.files[file_id] = b"".join(json.dumps(r).encode() + b"\n" for r in rows)
                batch[name] = file_id

    def _answer_line(self, line: dict, i: int, fault: str | None, count: int) -> dict:
        custom_id = line["custom_id"]
        if fault in ("expired", "cancelled") and i >= count // 2:
            return {"id": f"req-{i}", "custom_id": custom_id, "response": None,
                    "error": {"code": "batch_expired", "message": "this request could not be executed in time"}}
        if fault == "partial" and i % 3 == 2:
            return {"id": f"req-{i}", "custom_id": custom_id, "error": None,
                    "response": {"status_code": 500, "body": _error(500, "server error")}}
        if fault == "partial" and i % 5 == 4:
            return {"id": f"req-{i}", "custom_id": custom_id, "error": None,
                    "response": {"status_code": 400, "body": _error(400, "bad request")}}
        body = line["body"]
        prompt = body["messages"][-1]["content"]
        json_mode = (body.get("response_format") or {}).get("type") in ("json_object", "json_schema")
        text = self.answer(prompt, json_mode)
        whole = "\n".join(m["content"] for m in body["messages"])  # the system message counts, as online
        usage = {"prompt_tokens": len(whole) // 4, "completion_tokens": len(text) // 4}
        return {"id": f"req-{i}", "custom_id": custom_id, "error": None, "response": {"status_code": 200, "body": {
            "id": f"chatcmpl-{i}", "object": "chat.completion", "model": body.get("model"), "usage": usage,
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}]}}}

    def _gemini(self, method: str, path: str, body):
        """Gemini batch mode with inline requests: create, get (the answers inline once it succeeded)."""
        if method == "POST" and ":batchGenerateContent" in path:
            config = body["batch"]
            requests = config["inputConfig"]["requests"]["requests"]
            lines = [{"custom_id": (r.get("metadata") or {}).get("key"), "request": r["request"]} for r in requests]
            batch, fault = self._new(lines, {"display_name": config.get("displayName", ""),
                                             "model": path.split("/models/")[1].split(":")[0]})
            if fault == "lost_create":
                return 500, _error(500, "the create call's answer was lost")
            return 200, _gemini_public(batch)
        if method == "GET" and "/batches/" in path:
            batch = self.batches.get(path.split("/batches/")[1])
            if batch is None:
                return 404, _error(404, "no such batch")
            self._advance_gemini(batch)
            return 200, _gemini_public(batch)
        if method == "GET" and path.endswith("/batches"):
            return 200, {"operations": [_gemini_public(b) for b in self.batches.values() if "display_name" in b]}
        return None

    def _advance_gemini(self, batch: dict) -> None:
        """A Gemini batch, at a status request: its inline answers once it ends."""
        if not self._ends_now(batch):
            return
        own = batch["_"]
        answers = []
        for i, line in enumerate(own["lines"]):
            metadata = {"key": line["custom_id"]}
            if own["fault"] in ("expired", "cancelled") and i >= len(own["lines"]) // 2:
                continue
            if own["fault"] == "partial" and i % 3 == 2:
                answers.append({"error": {"code": 500, "message": "server error"}, "metadata": metadata})
                continue
            request = line["request"]
            prompt = request["contents"][0]["parts"][0]["text"]
            system = [p["text"] for p in (request.get("systemInstruction") or {}).get("parts", [])]
            whole = "\n".join([*system, prompt])
            json_mode = (request.get("generationConfig") or {}).get("responseMimeType") == "application/json"
            text = self.answer(prompt, json_mode)
            answers.append({"metadata": metadata, "response": {
                "candidates": [{"content": {"parts": [{"text": text}], "role": "model"}, "finishReason": "STOP"}],
                "usageMetadata": {"promptTokenCount": len(whole) // 4, "candidatesTokenCount": len(text) // 4}}})
        batch["status"] = own["fault"] if own["fault"] in ("expired", "cancelled") else "completed"
        batch["_"]["answers"] = answers


GEMINI_STATES = {"validating": "BATCH_STATE_PENDING", "in_progress": "BATCH_STATE_RUNNING",
                 "completed": "BATCH_STATE_SUCCEEDED", "failed": "BATCH_STATE_FAILED", "expired": "BATCH_STATE_EXPIRED",
                 "cancelling": "BATCH_STATE_RUNNING", "cancelled": "BATCH_STATE_CANCELLED"}


def _public(batch: dict) -> dict:
    return {k: v for k, v in batch.items() if k != "_"}


def _gemini_public(batch: dict) -> dict:
    metadata = {"@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
                "model": f"models/{batch['model']}", "displayName": batch["display_name"],
                "state": GEMINI_STATES[batch["status"]]}
    if "answers" in batch["_"]:
        metadata["output"] = {"inlinedResponses": {"inlinedResponses": batch["_"]["answers"]}}
    return {"name": f"batches/{batch['id']}", "metadata": metadata, "done": "answers" in batch["_"]}


def _error(code: int, message: str) -> dict:
    return {"error": {"code": code, "message": message}}
