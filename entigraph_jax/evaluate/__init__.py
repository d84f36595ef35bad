"""evaluate: scoring a model, one task at a time; `python -m entigraph_jax.evaluate --config ...` and the
before/after report (`evaluate report`).

Owns the task registry (`task.py`: a task is one file of `tasks/`), the QuALITY protocol (prompts, answer
parsing, selection: `quality.py`; retrieval: `rag.py`; scores by split and group: `scores.py`), the summary
judge and sampling through a served model, both asking through the LLM service (`llm/`). Training runs the
same tasks as hooks, so this stage sits below train: it may import clients, data, models and llm; never
generate, train, sweep or sbp.
"""
