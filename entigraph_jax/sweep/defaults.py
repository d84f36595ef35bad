"""The sweep config schema: a train config and an evaluate config (each with its command's keys),
the token budgets, reference accuracies and how to launch. Recipes replace `train` and `evaluate`
with their own (a train recipe loaded with `load_config_file`, say)."""

import ml_collections

from entigraph_jax.evaluate.defaults import base_config as evaluate_config
from entigraph_jax.train.defaults import base_config as train_config


def base_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.workdir = ""  # the study's folder: one run folder per budget, results, fit and plot (also --workdir)
    c.token_budgets = (1,)  # synthetic tokens per run (the train source is subsampled to each)
    c.train = train_config()  # each run's training (data.subsample_tokens and workdir are set per run)
    c.evaluate = evaluate_config()  # each run's evaluation (model.path, tokenizer and output are set per run)
    c.references = ml_collections.ConfigDict(dict(
        base_model=-1.0,  # accuracy of the model before CPT, drawn as a line (< 0: not drawn)
        raw_cpt=-1.0,  # accuracy after CPT on the raw corpus (< 0: not drawn)
        rephrase_cpt=-1.0,  # accuracy after CPT on the Rephrase corpus (< 0: not drawn)
    ))
    c.fit_components = 2  # exponentials in the mixture fitted to accuracy against tokens
    c.launch = "sequential"  # sequential (run here) | print (one command per missing run, for a cluster)
    return c
