"""The sweep config schema: a train config and an evaluate config (each with its command's keys),
the token budgets, reference accuracies and how to launch."""

import ml_collections


def base_config(train_config: ml_collections.ConfigDict, eval_config: ml_collections.ConfigDict):
    c = ml_collections.ConfigDict()
    c.workdir = ""
    c.token_budgets = (1,)  # synthetic tokens per run (the train source is subsampled to each)
    c.train = train_config
    c.evaluate = eval_config
    # accuracies drawn as reference lines; < 0: not drawn (fill in your measured runs)
    c.references = ml_collections.ConfigDict(dict(base_model=-1.0, raw_cpt=-1.0, rephrase_cpt=-1.0))
    c.launch = "sequential"  # sequential (run here) | print (one command per missing run, for a cluster)
    return c
