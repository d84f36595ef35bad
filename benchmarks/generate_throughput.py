"""Generation throughput against a fake LLM server with 200 ms latency per request.

With 64 requests in flight the ideal is 64 / 0.2 s = 320 requests/s; the target is >= 95% of it.
Memory is sampled as the run goes: it should stay flat from 10% to 100% of 100k requests. (The
official EntiGraph code keeps one request in flight per process: 5 requests/s at this latency.)
The server runs in its own process; the whole `generate` path (plan, journal, engine, records) is
measured.

    python benchmarks/generate_throughput.py [--requests 100000 --concurrency 64 --latency 0.2]

`--mode batch` sends the same requests through the fake server's OpenAI Batch API instead (batches
of `--batch-size`, each answered after 3 status requests, polled every 0.2 s) and reports the HTTP
calls it took by kind: about requests / batch size creates and uploads plus the polls, not one per
request.

    python benchmarks/generate_throughput.py --mode batch [--requests 100000 --batch-size 10000]
"""

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from entigraph_jax.config import apply_override
from entigraph_jax.generate.run import generate
from entigraph_jax.generate.settings import GenerateSettings, base_config


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--mode", choices=("online", "batch"), default="online")
    parser.add_argument("--batch-size", type=int, default=10_000)
    args = parser.parse_args()

    server = subprocess.Popen([sys.executable, "-m", "entigraph_jax.testing", "--port", str(args.port),
                               "--latency", str(args.latency), "--batch_polls", "3"], stdout=subprocess.PIPE, text=True)
    server.stdout.readline()  # "fake LLM server on ..."
    try:
        with tempfile.TemporaryDirectory() as tmp:
            samples = 25
            docs = -(-args.requests // (4 * samples))  # 4 styles x `samples` rewrites per document
            with open(Path(tmp) / "docs.jsonl", "w") as f:
                for i in range(docs):
                    f.write(json.dumps({"id": f"d{i}", "text": f"Document {i} about Quarrowmere bells. " * 20}) + "\n")
            config = base_config()
            for key, value in {"method": "rephrase", "source": f"jsonl:{tmp}/docs.jsonl", "output_dir": f"{tmp}/out",
                               "llm.model": "fake", "llm.base_url": f"http://127.0.0.1:{args.port}/v1",
                               "llm.max_concurrency": args.concurrency, "rephrase.samples": samples,
                               "budget.max_requests": args.requests, "llm.mode": args.mode,
                               "llm.batch_size": args.batch_size, "llm.poll_s": 0.2}.items():
                apply_override(config, key, str(value))
            config = GenerateSettings.from_config(config)

            samples_mb, stop = [], threading.Event()

            def sample_memory():
                journal = config.corpus().journal
                while not stop.wait(1.0):
                    size = journal.stat().st_size if journal.exists() else 0
                    samples_mb.append((time.perf_counter(), rss_mb(), size))

            threading.Thread(target=sample_memory, daemon=True).start()
            start = time.perf_counter()
            summary = generate(config)
            elapsed = time.perf_counter() - start
            stop.set()
            with urllib.request.urlopen(f"http://127.0.0.1:{args.port}/fake/stats") as answer:
                calls = {path: n for path, n in json.loads(answer.read()).items() if path != "GET /fake/stats"}
    finally:
        server.terminate()

    done = summary.records
    rate = done / elapsed
    if args.mode == "online":
        ideal = args.concurrency / args.latency
        print(f"{done} requests in {elapsed:.1f} s (plan, journal, send, export): {rate:.1f} requests/s; "
              f"ideal {ideal:.0f}/s; {100 * rate / ideal:.1f}% of ideal (target >= 95%)")
    else:
        print(f"{done} requests in {elapsed:.1f} s through batches of {args.batch_size} (plan, journal, upload, "
              f"poll, download, export): {rate:.1f} requests/s; {sum(calls.values())} HTTP calls: "
              + ", ".join(f"{n} x {path}" for path, n in sorted(calls.items(), key=lambda c: -c[1])))
    if samples_mb:
        span = samples_mb[-1][0] - samples_mb[0][0]
        marks = [samples_mb[min(len(samples_mb) - 1, int(f * len(samples_mb)))] for f in (0.1, 0.5, 1.0)]
        print("resident memory at 10% / 50% / 100% of the run: "
              + " / ".join(f"{m[1]:.0f} MB" for m in marks) + f" (over {span:.0f} s); "
              f"peak {max(m[1] for m in samples_mb):.0f} MB")


if __name__ == "__main__":
    main()
