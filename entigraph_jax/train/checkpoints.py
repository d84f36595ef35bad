"""Orbax checkpoints of a run: train state, data iterator position and config, every N steps.

`workdir/checkpoints/<step>/` holds `state` (params, optimizer state, step), `data` (the Grain
iterator state) and `config` (JSON). Orbax writes each step under a temporary name and commits it
atomically, and keeps the last K; the latest complete one is where a rerun resumes.
"""

from __future__ import annotations

from pathlib import Path

import grain
import orbax.checkpoint as ocp


class RunCheckpoints:
    def __init__(self, workdir: Path, keep: int, async_save: bool):
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, enable_async_checkpointing=async_save,
                                               create=True)
        self.manager = ocp.CheckpointManager(Path(workdir).absolute() / "checkpoints", options=options)

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def save(self, step: int, state: dict, iterator: grain.DatasetIterator, config_json: dict) -> None:
        self.manager.save(step, force=True, args=ocp.args.Composite(
            state=ocp.args.StandardSave(state),
            data=grain.checkpoint.CheckpointSave(iterator),
            config=ocp.args.JsonSave(config_json),
        ))

    def restore(self, step: int, abstract_state: dict, iterator: grain.DatasetIterator) -> dict:
        """The state at `step` (placed as `abstract_state` says); `iterator` is moved to its position."""
        restored = self.manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract_state),
            data=grain.checkpoint.CheckpointRestore(iterator),
        ))
        return restored.state

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.close()
