"""The sweep settings: a train config and an evaluate config (each with its command's keys), the
token budgets, reference accuracies and how to launch. Recipes replace `train` and `evaluate` with
their own (a train recipe loaded with `load_config_file`, say)."""

import dataclasses

import ml_collections

from entigraph_jax.evaluate.settings import EvaluateSettings
from entigraph_jax.scalars import FigureLogSettings
from entigraph_jax.settings import SettingError, Settings, at_least, section, setting
from entigraph_jax.train.settings import TrainSettings

LAUNCH = ("sequential", "print")
BUDGETS = ("corpus", "trained")


@dataclasses.dataclass(frozen=True)
class ReferenceSettings(Settings):
    base_model: float = setting(-1.0, "accuracy of the model before CPT, drawn as a line (< 0: not drawn)")
    raw_cpt: float = setting(-1.0, "accuracy after CPT on the raw corpus (< 0: not drawn)")
    rephrase_cpt: float = setting(-1.0, "accuracy after CPT on the Rephrase corpus (< 0: not drawn)")


@dataclasses.dataclass(frozen=True)
class SweepSettings(Settings):
    workdir: str = setting("", "the study's folder: one run folder per budget, results, fit and plot (also "
                           "--workdir)")
    token_budgets: tuple = setting((1,), "tokens per run: see budget")
    budget: str = setting("corpus", "what a budget counts: corpus (the train source subsampled to it, nested subsets "
                          "trained data.epochs times: the paper's Figure 2) | trained (the tokens each run trains: "
                          "max_steps from the batch, the source whole and repeated as often as that takes, so arms "
                          "with corpora of any size train alike)", choices=BUDGETS)
    train: TrainSettings = section(TrainSettings, "each run's training (data.subsample_tokens and workdir are set "
                                   "per run)")
    evaluate: EvaluateSettings = section(EvaluateSettings, "each run's evaluation (model.path, tokenizer and "
                                         "output are set per run)")
    references: ReferenceSettings = section(ReferenceSettings)
    label: str = setting("", "what the plot calls the runs (\"\": CPT on <train.data.source>)")
    fit_components: int = setting(0, "exponentials in the mixture fitted to accuracy against tokens (0: 1, 2 or 3, "
                                  "whichever predicts a left-out run best; the paper, Appendix G.1: 3; K terms need "
                                  "2K + 1 runs)", check=at_least(0))
    fit_draws: int = setting(200, "bootstrap refits for the fit's 90% band and plateau interval (0: none)",
                             check=at_least(0))
    log: FigureLogSettings = section(FigureLogSettings, "each budget's figures (sweep/...) to TensorBoard and W&B "
                                     "too, the step being the budget in tokens")
    launch: str = setting("sequential", "sequential (run here) | print (one command per missing run, for a "
                          "cluster)", choices=LAUNCH)

    def validate(self):
        if not self.token_budgets or any(not isinstance(t, int | float) or t <= 0 for t in self.token_budgets):
            raise SettingError("token_budgets", "must be a non-empty list of positive token counts")


def base_config() -> ml_collections.ConfigDict:
    return SweepSettings().to_config()
