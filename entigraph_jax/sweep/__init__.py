"""sweep: the scaling study over synthetic-token budgets — runs, results table, curve fit, plot;
`python -m entigraph_jax.sweep --config ...`.

May import every stage below it (data, models, evaluate, train); nothing imports it.
"""
