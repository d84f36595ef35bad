"""`python -m entigraph_jax.sbp {baseline,mine,synthesizer,synthesize,measure,train,run} --config ...`"""

import sys

from entigraph_jax.cli import Command, Flag, main
from entigraph_jax.train.plan import HARDWARE

from .run import SBP, STEPS, plan
from .settings import SBPSettings

PURPOSES = {
    "baseline": "Step 0, train the repetition baseline (the real documents repeated) that the synthesizer starts from",
    "mine": "Step 1, mine related document pairs with an embedder (exact or faiss nearest neighbours)",
    "synthesizer": "Step 2, fine-tune the baseline into the synthesizer p(d2 | d1) with the loss on d2 only",
    "synthesize": "Step 3, synthesize new documents from corpus seeds, dropping copies of the seed",
    "measure": "Step 3b, measure every arm's training text: repetition, duplicates, copying of the seed and "
               "relevance to it",
    "train": "Step 4, SBP joint training (real + synthetic), and the oracle arm, at the baseline's compute",
    "run": "Every step in order; steps whose output exists are skipped, so a rerun continues",
}


def command(step: str) -> Command:
    steps = STEPS if step == "run" else (step,)
    return Command(
        name=f"sbp {step}",
        purpose=f"{PURPOSES[step]}. Part of Synthetic Bootstrapped Pretraining (SBP).",
        settings=SBPSettings,
        run=lambda config, invocation: SBP(config).run(steps),
        flags=(Flag("workdir", "every step's folder", key="workdir", metavar="DIR"),),
        interrupted="finished steps and checkpoints are kept; rerun to continue",
    )


COMMANDS = {step: command(step) for step in (*STEPS, "run")}
COMMANDS["plan"] = Command(
    name="sbp plan",
    purpose="""Before renting: every arm's training tokens, the synthetic tokens the SBP arm needs, and the memory
and expected hours of an arm and of the synthesizer on the named hardware (the train planner's).""",
    settings=SBPSettings,
    run=lambda config, invocation: plan(config, invocation.options["hardware"], not invocation.options["no_compile"]),
    show=lambda text: text,
    flags=(Flag("hardware", f"plan for this machine ({', '.join(HARDWARE)})", metavar="NAME"),
           Flag("no_compile", "estimates only; do not compile the steps", switch=True)),
)

if __name__ == "__main__":
    sys.exit(main(COMMANDS))
