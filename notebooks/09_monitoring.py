# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python (mlops-course)
#     language: python
#     name: mlops-course
# ---

# %% [markdown]
# # Lesson 9 — Monitoring: drift, decay and alerts on a live service
#
# Lesson 1 ended with *no tests, no monitoring: bugs and drift found by users*. Lesson 8
# built a service that records what it sees: a prediction log (one JSON line per
# prediction, with the model version) and Prometheus metrics (requests, latency,
# predictions, live drift gauges). This lesson watches it. We send simulated production
# traffic through the real service — clean, then drifting the way housing data drifts
# (incomes inflating, demand moving inland) — and measure what a monitor sees: drift per
# feature, false alarms on clean traffic, a real Prometheus with alerting rules, and the
# model's error once the true prices arrive. Lecture notes: `lectures/09-monitoring.md`.
#
# **After this lesson you can**
# 1. name what to monitor in an ML service: health, data quality, data drift, prediction
#    drift, model performance;
# 2. compute PSI, KS and Wasserstein drift per feature and read a drift report;
# 3. measure a drift detector's false-alarm rate on clean traffic and its delay on drift;
# 4. scrape a service with Prometheus, query it with PromQL and see an alert fire;
# 5. track performance decay over time windows once labels arrive, and alert on it.

# %% tags=["parameters"]
from mlops_course import config

FAST = config.fast_default()  # fast mode: fewer days and clean batches (CI)
SEED = 42
PROMETHEUS = True  # False: read /metrics directly even when a prometheus binary exists

# %% [markdown]
# ## Setup
# The service of lesson 8, started for real on 127.0.0.1 with a prediction log; the
# reference for drift is the data the model was trained on (the DVC pipeline's split).

# %%
import contextlib
import os
import time

import httpx
import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
from scipy import stats

from mlops_course import drift, pipeline
from mlops_course.course.results import record_metrics
from mlops_course.data import TARGET, read_housing_csv
from mlops_course.monitoring import (
    MonitoringError,
    error_by_window,
    histogram_quantile,
    join_labels,
    parse_metrics,
    production_traffic,
    prometheus_binary,
    read_prediction_log,
    run_prometheus,
    send_batches,
    wait_for,
)
from mlops_course.service.bundle import (
    default_model_path,
    export_bundle,
    load_bundle,
    resolve_model,
)
from mlops_course.service.process import leftover_servers, serve_bundle, stop_all

SEED = config.set_seed(SEED)
WORK = config.work_dir("09_monitoring")
N_DAYS, ROWS_PER_DAY = (10, 500) if FAST else (12, 1000)
N_CLEAN_BATCHES, CLEAN_BATCH_ROWS = (40, 500) if FAST else (200, 500)
source = resolve_model(None, quiet=False)
prepared = default_model_path().parent / "prepared"
train_df = read_housing_csv(prepared / pipeline.TRAIN_CSV)
test_df = read_housing_csv(prepared / pipeline.TEST_CSV)
bundle = load_bundle(export_bundle(source, WORK / "bundle"))
FEATURES = [c for c in train_df.columns if c != TARGET]
reference = train_df[FEATURES].assign(prediction_usd=source.pipeline.predict(train_df[FEATURES]))
servers = contextlib.ExitStack()
log_path = WORK / "predictions.jsonl"
service = servers.enter_context(serve_bundle(bundle.path, log_file=log_path))
http = servers.enter_context(httpx.Client(timeout=60, trust_env=False))
print(f"FAST={FAST}; serving {bundle.version} at {service.url}; reference: "
      f"{len(reference):,} training districts")

# %% [markdown]
# ## What to monitor
# | layer | question | signal here | arrives |
# | --- | --- | --- | --- |
# | service health | is it up, fast, answering? | request rate, 4xx/5xx share, p95 latency (`/metrics`) | seconds |
# | data quality | are inputs well-formed? | 422 answers by field (lesson 8's schema) | seconds |
# | data drift | do inputs still look like training data? | PSI / KS / Wasserstein per feature | minutes to hours |
# | prediction drift | do the answers still look like before? | drift of `prediction_usd` | minutes to hours |
# | model performance | is it still right? | MAE per time window, once true prices arrive | days to months |
#
# ## Step 1 — Drift metrics, checked against scipy
# The package computes each metric itself (`mlops_course.drift`); `scipy.stats` must
# agree on the same data. Here: the test split against the training split, which come
# from the same distribution.

# %% tags=["nbval-check-output"]
rows = []
for feature in ["median_income", "housing_median_age", "latitude", "population"]:
    a, b = train_df[feature].to_numpy(), test_df[feature].to_numpy()
    scipy_ks = stats.ks_2samp(a, b, method="asymp")
    rows.append({"feature": feature, "ks": drift.ks_statistic(a, b),
                 "ks_scipy": scipy_ks.statistic,
                 "ks_pvalue": drift.ks_pvalue(drift.ks_statistic(a, b), a.size, b.size),
                 "ks_pvalue_scipy": scipy_ks.pvalue,
                 "wasserstein": drift.wasserstein(a, b),
                 "wasserstein_scipy": stats.wasserstein_distance(a, b),
                 "psi": drift.psi(a, b)})
cross_check = pd.DataFrame(rows).set_index("feature")
max_gap = float(max((cross_check["ks"] - cross_check["ks_scipy"]).abs().max(),
                    ((cross_check["wasserstein"] - cross_check["wasserstein_scipy"]).abs()
                     / cross_check["wasserstein_scipy"]).max()))
print(f"largest disagreement with scipy (KS absolute, Wasserstein relative): {max_gap:.1e}")
cross_check.round(4)

# %% [markdown]
# The two implementations agree to rounding. The p-values see nothing wrong here (train
# and test are random parts of one data set), but with thousands of rows a p-value
# becomes tiny for shifts far too small to matter (look at the p-values of the drifted
# days' report below, next to their small PSI and KS). That is why the detector below alarms on the size of a shift
# (PSI ≥ 0.25, KS ≥ 0.15, Wasserstein ≥ 0.25 reference SDs), not on a p-value.
#
# ## Step 2 — Clean traffic: how often does the detector cry wolf?
# Send many batches of real, undrifted districts (the test split, never seen in training)
# through the service, then compute a drift report per batch *from the service's own
# prediction log* and count the batches where any feature was flagged.

# %%
thresholds = drift.Thresholds()
clean_ids = []
for batch in range(N_CLEAN_BATCHES):
    rows_b = production_traffic(test_df, CLEAN_BATCH_ROWS, seed=SEED + batch)
    clean_ids.append(send_batches(service.url, rows_b, client=http))
log = read_prediction_log(log_path)
alarms = []
for ids in clean_ids:
    window = log[log["request_id"].isin(ids)]
    report = drift.drift_report(reference, window[FEATURES + ["prediction_usd"]],
                                thresholds=thresholds)
    alarms.append(report.index[report["drifted"]].tolist())
false_alarm_rate = float(np.mean([bool(a) for a in alarms]))
clean_psi_max = float(max(drift.drift_report(reference, log[log["request_id"].isin(ids)][
    FEATURES + ["prediction_usd"]])["psi"].max() for ids in clean_ids[:5]))
print(f"{N_CLEAN_BATCHES} clean batches of {CLEAN_BATCH_ROWS} districts through the service: "
      f"{sum(bool(a) for a in alarms)} flagged -> false-alarm rate {false_alarm_rate:.1%}")
print(f"largest PSI in the first five clean batches: {clean_psi_max:.3f} (threshold "
      f"{thresholds.psi})")

# %% [markdown]
# ## Step 3 — Production drifts, day by day
# Twelve days of traffic (ten in fast mode). Days 1-3 are clean. From day 4, incomes inflate by 6% a day and true prices by 10% a
# day (prices outrun incomes, so the model, which learned 1990 prices, falls behind).
# From day 7 the service gets popular inland: inland districts become four times as
# likely. Each day's traffic goes through the service; the drift report reads that day's
# lines of the prediction log.

# %%
def scenario(day):
    growth = max(0, day - 3)
    return {"income_inflation": 0.06 * growth, "price_inflation": 0.10 * growth,
            "inland_weight": 4.0 if day >= 7 else 1.0}


labels, day_of = {}, {}
for day in range(1, N_DAYS + 1):
    traffic = production_traffic(test_df, ROWS_PER_DAY, seed=1000 + day, **scenario(day))
    ids = send_batches(service.url, traffic, client=http)
    labels.update(zip(ids, traffic[TARGET], strict=True))  # true prices, known later
    day_of.update(dict.fromkeys(ids, day))
log = read_prediction_log(log_path)
daily = log[log["request_id"].isin(day_of)].assign(day=lambda f: f["request_id"].map(day_of))
reports = {day: drift.drift_report(reference, part[FEATURES + ["prediction_usd"]],
                                   thresholds=thresholds) for day, part in daily.groupby("day")}
psi_by_day = pd.DataFrame({day: r["psi"] for day, r in reports.items()}).T
flagged = {day: r.index[r["drifted"]].tolist() for day, r in reports.items()}
drift_days = [day for day in flagged if scenario(day)["income_inflation"] > 0]
first_flag = min((day for day, f in flagged.items() if f), default=None)
for day, features in flagged.items():
    print(f"day {day:>2}: {', '.join(features) or '-'}")

# %%
fig, ax = plt.subplots(figsize=(9, 4))
for feature in ["median_income", "prediction_usd", "ocean_proximity", "longitude",
                "housing_median_age"]:
    ax.plot(psi_by_day.index, psi_by_day[feature], "o-", label=feature)
ax.axhline(thresholds.psi, color="black", ls="--", lw=1, label=f"alarm: PSI {thresholds.psi}")
ax.axvspan(0.5, 3.5, color="tab:green", alpha=0.08, label="clean days")
ax.set(xlabel="day", ylabel="PSI against the training data (unitless)",
       title=f"Drift per feature, from the service's prediction log ({ROWS_PER_DAY:,} "
             "requests a day)")
ax.legend(ncols=2, fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# What to notice: on clean days every line sits near zero; income inflation shows in
# `median_income`, the move inland in `ocean_proximity` from day 7; `housing_median_age`,
# which nothing changed, stays quiet. The predictions move much less than the incomes:
# higher incomes raise prices, the move inland lowers them, and the two partly cancel —
# prediction drift needs no labels, but it can hide input drifts that offset each other.
# The report for the last day:

# %%
reports[N_DAYS].round(3)

# %% [markdown]
# ## Step 4 — A real Prometheus: scrape, query, alert
# Prometheus scrapes `/metrics` every half second here (15-60 s in production) and evaluates
# alerting rules. The service's `house_price_feature_psi` gauges compare its last 500
# inputs with the training histograms stored in the bundle. Without a `prometheus`
# binary (Debian/Ubuntu: `apt-get install prometheus`), the notebook says so and reads
# `/metrics` directly; in CI (`CI=true`) the binary is required.

# %%
RULES = [
    {"alert": "InputDrift", "for": "2s", "summary": "an input feature drifted (PSI > 0.25)",
     "expr": 'max(house_price_feature_psi{feature!="prediction_usd"}) > 0.25'},
    {"alert": "PredictionDrift", "for": "2s", "summary": "predictions drifted (PSI > 0.25)",
     "expr": 'house_price_feature_psi{feature="prediction_usd"} > 0.25'},
    {"alert": "SlowPredictions", "for": "5s", "summary": "p95 latency of /predict > 100 ms",
     "expr": "histogram_quantile(0.95, sum by (le) (rate("
             'house_price_http_request_duration_seconds_bucket{endpoint="/predict"}[10s]))) > 0.1'},
]
QUERIES = {
    "requests/s (/predict, 10 s window)":
        'sum(rate(house_price_http_requests_total{endpoint="/predict"}[10s]))',
    "p95 latency of /predict (s)": "histogram_quantile(0.95, sum by (le) (rate("
        'house_price_http_request_duration_seconds_bucket{endpoint="/predict"}[10s])))',
    "PSI of median_income (last 500 inputs)": 'house_price_feature_psi{feature="median_income"}',
}
have_prometheus = PROMETHEUS and prometheus_binary() is not None
if PROMETHEUS and not have_prometheus and os.environ.get("CI", "").lower() == "true":
    raise MonitoringError("CI=true but no `prometheus` binary: .ci/run installs it (Debian "
                          "package `prometheus`); CI must run the real path")
print(f"prometheus binary: {prometheus_binary() or 'not found'}; "
      f"{'using it' if have_prometheus else 'reading /metrics directly'}")


def single_requests(frame):
    """One /predict request per district (the latency histogram is per request)."""
    for record in frame.drop(columns=TARGET).to_dict(orient="records"):
        record = {k: (None if isinstance(v, float) and np.isnan(v) else v)
                  for k, v in record.items()}
        http.post(service.url + "/predict", json=record).raise_for_status()


clean_now = production_traffic(test_df, 600, seed=7)
drifted_now = production_traffic(test_df, 600, seed=8, **scenario(N_DAYS))
observed = {}
if have_prometheus:
    prom = servers.enter_context(run_prometheus(service.url, RULES, folder=WORK / "prometheus",
                                                scrape_interval_s=0.5))
    wait_for(lambda: any(t["health"] == "up" for t in prom.targets()), 15)
    t_start = time.time()
    single_requests(clean_now.head(5))  # the series exist before the traffic: rate() sees it
    time.sleep(1.2)
    single_requests(clean_now)
    time.sleep(1.2)  # two more scrapes
    for name, promql in QUERIES.items():
        result = prom.query(promql)
        observed[f"clean: {name}"] = float(result[0]["value"][1]) if result else float("nan")
    single_requests(drifted_now)
    waited = wait_for(lambda: any(a["labels"]["alertname"] == "InputDrift" and
                                  a["state"] == "firing" for a in prom.alerts()), 30)
    observed["drifted: " + list(QUERIES)[2]] = float(prom.query(QUERIES[list(QUERIES)[2]])[0]
                                                     ["value"][1])
    alerts = pd.DataFrame([{"alert": a["labels"]["alertname"], "state": a["state"],
                            "summary": a["annotations"]["summary"]} for a in prom.alerts()])
    psi_series = prom.query_range(QUERIES[list(QUERIES)[2]], t_start, time.time(), 1)
    psi_trace = pd.Series({pd.Timestamp(float(t), unit="s"): float(v)
                           for t, v in psi_series[0]["values"]})
    print(f"InputDrift fired {waited:.1f} s after the drifted traffic ended")
else:  # the same questions, answered from /metrics by hand
    def scrape():
        return time.time(), parse_metrics(http.get(service.url + "/metrics").text)

    def p95_between(before, after):
        prefix = 'house_price_http_request_duration_seconds_bucket{endpoint="/predict",le="'
        buckets = {float(k[len(prefix):-2]): after[k] - before.get(k, 0.0)
                   for k in after if k.startswith(prefix)}
        return histogram_quantile(0.95, buckets)

    t0, m0 = scrape()
    single_requests(clean_now)
    t1, m1 = scrape()
    count = 'house_price_http_requests_total{endpoint="/predict",status="200"}'
    observed["clean: " + list(QUERIES)[0]] = (m1[count] - m0.get(count, 0)) / (t1 - t0)
    observed["clean: " + list(QUERIES)[1]] = p95_between(m0, m1)
    psi_key = 'house_price_feature_psi{feature="median_income"}'
    observed["clean: " + list(QUERIES)[2]] = m1[psi_key]
    single_requests(drifted_now)
    t2, m2 = scrape()
    observed["drifted: " + list(QUERIES)[2]] = m2[psi_key]
    psi_now = {k: v for k, v in m2.items() if k.startswith("house_price_feature_psi")}
    prediction_key = 'house_price_feature_psi{feature="prediction_usd"}'
    firing = [name for name, value in (
        ("InputDrift", max(v for k, v in psi_now.items() if k != prediction_key)),
        ("PredictionDrift", psi_now.get(prediction_key, 0.0))) if value > 0.25]
    alerts = pd.DataFrame({"alert": firing, "state": "firing (evaluated here)"})
    psi_trace = pd.Series({pd.Timestamp(t0, unit="s"): m0.get(psi_key, np.nan),
                           pd.Timestamp(t1, unit="s"): m1[psi_key],
                           pd.Timestamp(t2, unit="s"): m2[psi_key]})
alert_fired = "InputDrift" in set(alerts["alert"])
print(pd.Series(observed).round(4).to_string())
alerts

# %% [markdown]
# Prometheus' `rate(...[10s])` is an average over the whole 10-second window, so a burst
# of requests that lasted a second reads as a lower rate than the burst itself (reading
# `/metrics` twice gives the rate between the two reads instead). The drift gauge crossed
# its threshold once the service's last 500 inputs were drifted ones, and the alert went
# from pending to firing after its `for:` time:

# %%
fig, ax = plt.subplots(figsize=(8, 3.4))
seconds = (psi_trace.index - psi_trace.index[0]).total_seconds()
ax.plot(seconds, psi_trace.to_numpy(), "o-", color="tab:red")
ax.axhline(0.25, color="black", ls="--", lw=1, label="InputDrift threshold")
ax.set(xlabel="seconds since the clean traffic started",
       ylabel="PSI of median_income (unitless)",
       title="The service's live drift gauge, as " + ("Prometheus stored it"
                                                       if have_prometheus else "read from /metrics"))
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Step 5 — Labels arrive: performance decay per day
# True prices arrive late in real life (a sale closes weeks after the estimate). When they
# do, join them to the prediction log by request id and compute the error per day. The
# decay alert fires when a day's MAE exceeds 1.25 times the MAE measured on the test set
# at deployment (from `/metadata`).

# %% tags=["nbval-check-output"]
joined = join_labels(daily, labels)
decay = error_by_window(joined, "day")
deploy_mae_usd = http.get(service.url + "/metadata").json()["metrics"]["test_mae_usd"]
decay_limit_usd = 1.25 * deploy_mae_usd
decay_alert_day = next((int(day) for day, row in decay.iterrows()
                        if row["mae_usd"] > decay_limit_usd), None)
print(f"MAE at deployment ${deploy_mae_usd:,.0f}; alert above ${decay_limit_usd:,.0f}; "
      f"first day over it: {decay_alert_day}")
decay.round(0)

# %%
fig, ax = plt.subplots(figsize=(8, 3.6))
ax.plot(decay.index, decay["mae_usd"], "o-", label="MAE of the day's predictions")
ax.axhline(deploy_mae_usd, color="tab:green", lw=1, label="MAE at deployment (test set)")
ax.axhline(decay_limit_usd, color="tab:red", ls="--", lw=1, label="decay alert: 1.25x")
if decay_alert_day:
    ax.axvline(decay_alert_day, color="tab:red", alpha=0.3, lw=6, label="alert fires")
if first_flag:
    ax.axvline(first_flag, color="tab:orange", alpha=0.3, lw=6, label="first drift flag")
ax.yaxis.set_major_formatter(mticker.StrMethodFormatter("${x:,.0f}"))
ax.set(xlabel="day", ylabel="mean absolute error ($)", ylim=(0, None),
       title="Performance decay once labels arrive (same traffic as the drift plot)")
ax.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# Here the labels came at once, so the error crossed the line (day printed above) about
# when the drift report first flagged a feature. In real life a day's true prices arrive
# much later — say `LABEL_DELAY_DAYS` below — and the decay alert is only *known* then:

# %%
LABEL_DELAY_DAYS = 7  # e.g. a sale price is recorded a week after the estimate
decay_known_day = decay_alert_day + LABEL_DELAY_DAYS
print(f"first drift flag: day {first_flag} (no labels needed); decay alert for day "
      f"{decay_alert_day}, known on day {decay_known_day} with a {LABEL_DELAY_DAYS}-day "
      "label delay")

# %% [markdown]
# Drift is an early warning, not a verdict: it needs no label — but only the labels say
# how much a change costs. A drift alert asks a human to look (is it a pipeline bug? a real
# change?); a decay alert asks for retraining on recent data (lesson 10 automates that).
#
# ## Stop every server

# %%
servers.close()
stop_all()
left = leftover_servers()
print(f"servers still running: {left or 'none'}")

# %% [markdown]
# ## Checks

# %%
assert max_gap < 1e-9, "our KS and Wasserstein agree with scipy.stats"
assert (cross_check["ks_pvalue"] - cross_check["ks_pvalue_scipy"]).abs().max() < 1e-9
assert false_alarm_rate <= 0.05, f"false-alarm rate {false_alarm_rate:.1%} on clean traffic"
assert not any(flagged[day] for day in (1, 2, 3)), "clean days raise no flag"
assert first_flag is not None and first_flag >= 4, "drift is flagged once it starts"
assert all("median_income" in flagged[day] for day in range(6, N_DAYS + 1)), "income drift"
assert all("ocean_proximity" in flagged[day] for day in range(7, N_DAYS + 1)), "move inland"
assert not any("housing_median_age" in f for f in flagged.values()), "untouched stays quiet"
assert ((reports[N_DAYS]["ks_pvalue"] < 0.01) & ~reports[N_DAYS]["drifted"]).any(), "p-values"
assert psi_by_day.loc[N_DAYS, "prediction_usd"] < psi_by_day.loc[N_DAYS, "median_income"]
assert psi_by_day.loc[N_DAYS, "prediction_usd"] > psi_by_day.loc[1:3, "prediction_usd"].max()
assert decay_alert_day is not None and abs(first_flag - decay_alert_day) <= 1, "about when"
assert first_flag < decay_known_day, "with delayed labels, drift warns first"
assert decay.loc[1:3, "mae_usd"].max() < decay_limit_usd < decay["mae_usd"].iloc[-1]
assert alert_fired, "the InputDrift alert fired"
assert observed["clean: " + list(QUERIES)[2]] < 0.25 < observed["drifted: " + list(QUERIES)[2]]
assert observed["clean: " + list(QUERIES)[0]] > 0, "requests were counted"
assert not left, f"servers left running: {left}"
record_metrics(
    scipy_max_gap=max_gap,
    clean_batches=N_CLEAN_BATCHES,
    false_alarm_rate=false_alarm_rate,
    first_drift_day_flagged=int(first_flag),
    drifted_days_flagged=sum(bool(flagged[d]) for d in drift_days),
    drifted_days=len(drift_days),
    decay_alert_day=int(decay_alert_day),
    decay_alert_known_day=int(decay_known_day),
    last_day_mae_usd=round(float(decay["mae_usd"].iloc[-1])),
    prometheus=have_prometheus,
    input_drift_alert_fired=alert_fired,
    p95_latency_ms_clean=round(1e3 * observed["clean: " + list(QUERIES)[1]], 3),
    request_rate_clean=round(observed["clean: " + list(QUERIES)[0]], 1),
)

# %% [markdown]
# ## Recap and next
# Lesson 1's *no monitoring: drift found by users* is fixed for this service: its own log
# and metrics feed a drift report per feature (checked against scipy, quiet on clean
# traffic), a real Prometheus with alerting rules on live drift and latency, and an error
# per day once labels arrive. Lesson 10 adds the other half of that row: tests and CI/CD,
# so that a fix (or a retrained model) reaches production safely.
#
# **Exercise:** `exercises/09_monitoring.ipynb` — PSI from scratch, a drift flag with
# thresholds, and the decay alert.
