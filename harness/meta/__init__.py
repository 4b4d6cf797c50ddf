"""Meta Compression in harness: a sweep of recipes over a zoo of models (the meta-dataset), meta-features of each
(model, recipe, device), a gradient-boosted-tree predictor of the outcome with prediction intervals, and a
recommender under latency/size/memory/energy/accuracy constraints that marks every candidate measured or
predicted.

Modules: sweep (grid runner), features (graph and weight features of an ONNX file, recipe parameters, device),
dataset (meta-dataset rows from the store), predictor (LightGBM quantile models, stored in the store), recommend
(candidates, constraints, Pareto front).
"""
