"""The evaluation settings: the model, the source, the task and its own section (`tasks.<name>.*`, one per
registered task), where a served model samples, and where the result goes; recipes start from
`base_config()`."""

import dataclasses
import functools

import ml_collections

from entigraph_jax.data import TokenizerSettings, spec_problem
from entigraph_jax.llm import LLMSettings
from entigraph_jax.scalars import FigureLogSettings
from entigraph_jax.settings import Settings, section, setting

from .scores import SPLITS
from .served import served_settings
from .task import tasks as registered_tasks

DTYPES = ("float32", "bfloat16", "float16")


@dataclasses.dataclass(frozen=True)
class EvalModelSettings(Settings):
    path: str = setting("", "the checkpoint: a Hugging Face folder (train's export, any Llama) or an Orbax folder")
    param_dtype: str = setting("float32", "dtype of the loaded weights", choices=DTYPES)
    dtype: str = setting("", "compute dtype of matmuls and activations (\"\": param_dtype)", choices=("", *DTYPES))


@functools.cache
def task_sections() -> type[Settings]:
    """The `tasks` section: one sub-section per registered task, its own settings."""
    fields = [(name, task.settings, section(task.settings, task.purpose)) for name, task in registered_tasks().items()]
    return dataclasses.make_dataclass("TaskSettings", fields, bases=(Settings,), frozen=True)


def _known_task(name: str) -> str | None:
    return None if name in registered_tasks() else f"unknown task; known: {', '.join(registered_tasks())}"


@dataclasses.dataclass(frozen=True)
class EvaluateSettings(Settings):
    renamed = {"mode": "task", "sampling": "tasks.closed_book.sampling (and tasks.open_book.sampling)",
               "max_questions": "tasks.<task>.max_questions", "rag": "tasks.open_book (its keys, one level up)",
               "loglik_batch": "tasks.loglik.batch", "perplexity": "tasks.perplexity",
               "summary": "tasks.summary", "harness": "tasks.harness", "contamination": "tasks.contamination"}

    model: EvalModelSettings = section(EvalModelSettings)
    tokenizer: TokenizerSettings = section(TokenizerSettings)
    source: str = setting("sample", "the documents: a load_source spec (a task reading questions needs a "
                          "QuALITY-format one: quality:..., generate's questions.jsonl)", check=spec_problem)
    task: str = setting("closed_book", "what to score, one of the tasks below (each with its keys under "
                        "tasks.<name>.*): " + ", ".join(f"{n} ({t.purpose})" for n, t in registered_tasks().items()),
                        check=_known_task)
    split: str = setting("test", "the headline's articles: test (by title, the last 80%, as the paper reports) | "
                         "tune | all", choices=SPLITS)
    tasks: Settings = section(lambda: task_sections()(), "each task's own settings")
    served: LLMSettings = section(served_settings, "sampling through a served model (the tasks that sample): an "
                                  "OpenAI-compatible /completions server, or vLLM started for the run; backend \"\": "
                                  "our own sampler; model \"\": model.path")
    output: str = setting("", "the result (\"\": <checkpoint>.<task>.json next to the checkpoint)")
    log: FigureLogSettings = section(FigureLogSettings, "the headline figures (eval/<task>/...) to TensorBoard and "
                                     "W&B too, at the step a train run's export was trained to")


def base_config() -> ml_collections.ConfigDict:
    return EvaluateSettings().to_config()
