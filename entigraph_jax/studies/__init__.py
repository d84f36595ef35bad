"""studies: scaling sweeps over synthetic-token budgets — runs, results table, curve fit, plot.

May import every stage below it (data, models, train, evaluate); nothing imports it.
"""
