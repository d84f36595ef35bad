"""testing: a fake LLM server that speaks the OpenAI and Gemini wire formats, with injectable
faults, for the tests, the benchmarks and trying the generator offline. Not a stage: nothing in
the stages imports it; it may import every stage.
"""

from .fake_llm import FakeLLMServer, fake_answer

__all__ = ["FakeLLMServer", "fake_answer"]
