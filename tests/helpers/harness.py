"""Tiny lm-evaluation-harness tasks over a local dataset."""

import json
from pathlib import Path

HARNESS_SENTENCE = "Quarrowmere is a fishing town built on a spit of grey shingle, and its bells are cast with salt. "


def tiny_harness_tasks(tmp_path: Path) -> Path:
    """Three harness tasks over six rows; one row's question and one row's text are longer than a
    256-position model, so contexts are cut from the left and texts scored in several rolling windows."""
    line = HARNESS_SENTENCE
    rows = [{"question": f"The ferry to Doskin leaves at {h} and" if h != 2 else line * 40 + "The ferry",
             "choices": [" arrives at noon.", " sinks.", " waits for the captain Wren Hollis.", " is late"],
             "answer": h % 4, "text": line * (1 + h % 3) if h != 4 else line * 30} for h in range(6)]
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    folder = tmp_path / "tasks"
    folder.mkdir()
    common = (f"dataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {data}\n  cache_dir: {tmp_path / 'hf'}\n"
              "test_split: test\n")
    (folder / "mc.yaml").write_text(
        "task: tiny_mc\n" + common + "output_type: multiple_choice\ndoc_to_text: '{{question}}'\n"
        "doc_to_choice: '{{choices}}'\ndoc_to_target: '{{answer}}'\nmetric_list:\n  - metric: acc\n"
        "  - metric: acc_norm\n")
    (folder / "rolling.yaml").write_text(
        "task: tiny_rolling\n" + common + "output_type: loglikelihood_rolling\ndoc_to_text: ''\n"
        "doc_to_target: '{{text}}'\nmetric_list:\n  - metric: word_perplexity\n  - metric: bits_per_byte\n")
    (folder / "gen.yaml").write_text(
        "task: tiny_gen\n" + common + "output_type: generate_until\ndoc_to_text: '{{question}}'\n"
        "doc_to_target: '{{choices[answer]}}'\ngeneration_kwargs:\n  until: ['\\n']\n  max_gen_toks: 8\n"
        "  do_sample: false\nmetric_list:\n  - metric: exact_match\n")
    return folder
