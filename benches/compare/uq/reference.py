"""Reference pipeline: the anchor libraries compute the metric set of `uq --json` on the same data.

Run by compare.py in a fresh process (so that its peak RSS is its own); prints one JSON line with
per-step times (seconds), values and the peak RSS (bytes).
"""
import json
import resource
import sys
import time
import warnings

import numpy as np
import scipy.special
import sklearn.metrics as skm
import torch
import torchmetrics.functional.classification as tmc
from netcal.metrics import ACE, ECE, MCE

torch.set_num_threads(int(sys.argv[4]) if len(sys.argv) > 4 else torch.get_num_threads())
logits_path, labels_path, n_bins = sys.argv[1], sys.argv[2], int(sys.argv[3])
logits = np.load(logits_path)                      # (M, N, K) float32
labels = np.load(labels_path)
M, N, K = logits.shape
times, cpu, values = {}, {}, {}


def step(name, fn):
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    times[name] = time.perf_counter() - t
    cpu[name] = time.process_time() - c
    return out


member_probs = step("scipy softmax (M,N,K)", lambda: scipy.special.softmax(logits, axis=-1))
p_bar = step("numpy mean over members (float64)", lambda: member_probs.mean(axis=0, dtype=np.float64))
pred = p_bar.argmax(1)
conf = p_bar.max(1)
errors = (pred != labels).astype(np.int64)
H = step("scipy entr: predictive entropy", lambda: scipy.special.entr(p_bar).sum(1))
EH = step("scipy entr: expected entropy", lambda: scipy.special.entr(member_probs.astype(np.float64)).sum(-1).mean(0))
MI = H - EH
values["predictive_entropy"] = float(H.mean())
values["expected_entropy"] = float(EH.mean())
values["mutual_information"] = float(MI.mean())
values["accuracy"] = step("sklearn accuracy_score", lambda: float(skm.accuracy_score(labels, pred)))
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    values["nll"] = step("sklearn log_loss", lambda: float(skm.log_loss(labels, p_bar, labels=list(range(K)))))
    values["brier"] = step("sklearn brier_score_loss", lambda: float(skm.brier_score_loss(labels, p_bar, labels=list(range(K)))))
pt, yt = torch.from_numpy(p_bar), torch.from_numpy(labels)
for norm, key in (("l1", "ece"), ("max", "mce"), ("l2", "rmsce")):
    values[key] = step(f"torchmetrics calibration_error {norm}", lambda: float(
        tmc.multiclass_calibration_error(pt, yt, num_classes=K, n_bins=n_bins, norm=norm)))
values["netcal_ece"] = step("netcal ECE", lambda: float(ECE(bins=n_bins).measure(p_bar, labels)))
values["netcal_mce"] = step("netcal MCE", lambda: float(MCE(bins=n_bins).measure(p_bar, labels)))
values["netcal_ace"] = step("netcal ACE", lambda: float(ACE(bins=n_bins).measure(p_bar, labels)))
values["auroc_entropy"] = step("sklearn roc_auc_score (H)", lambda: float(skm.roc_auc_score(errors, H)))
values["auprc_entropy"] = step("sklearn average_precision_score (H)", lambda: float(skm.average_precision_score(errors, H)))
values["auroc_mutual_information"] = step("sklearn roc_auc_score (MI)", lambda: float(skm.roc_auc_score(errors, MI)))
values["auroc_neg_max_prob"] = step("sklearn roc_auc_score (-conf)", lambda: float(skm.roc_auc_score(errors, -conf)))


def aurc():
    order = np.argsort(-conf, kind="stable")
    risk = np.cumsum(errors[order]) / np.arange(1, N + 1)
    opt = np.cumsum(np.sort(errors)) / np.arange(1, N + 1)
    return float(risk.mean()), float(risk.mean() - opt.mean())


values["aurc"], values["e_aurc"] = step("numpy AURC / E-AURC", aurc)
print(json.dumps({
    "times": times,
    "cpu_times": cpu,
    "values": values,
    "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
}))
