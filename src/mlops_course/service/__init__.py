"""The house-price prediction service (lessons 8 and 9): FastAPI on uvicorn.

The service never loads scikit-learn. A fitted course pipeline is first *exported* into a
serving bundle (:mod:`mlops_course.service.bundle`): one ONNX file with the training
preprocessing inside (derived ratios, median imputation, scaling, one-hot) followed by
the trees, and a ``bundle.json`` with the model's name, version, training-data digest,
metrics, the request schema (ranges, categories) and reference histograms for drift.
The export checks the ONNX answers against the pipeline's own predictions and refuses a
bundle that disagrees.

Modules::

    bundle      resolve a model (DVC file, path, models:/NAME@ALIAS), export and load bundles
    schema      the typed request schema, built from a bundle (ranges, allowed categories)
    app         create_app(): the FastAPI app, its metrics and its JSON-lines prediction log
    server      ``python -m mlops_course.service.server``: uvicorn on one bundle
    process     start servers in their own process group, wait for them, stop them, RSS
    loadtest    keep-alive HTTP clients, latency percentiles, requests/s, server comparison
    baselines   the Flask app of lesson 1 and ``mlflow models serve``, for comparison
    benchmark   ``python -m mlops_course.service.benchmark``: all three, ratios from one run

Nothing happens at import.
"""
