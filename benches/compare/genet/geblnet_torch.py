"""GEBLNet in PyTorch, computed the way the public GENet code computes it.

Complex numbers are pairs of real tensors (last axis: real, imaginary part), the bilinear layer forms
every channel-pair product X_v X_w first ("bxvij,bxwjk->bxvwik") and contracts the weights with them
afterwards ("uvw,bxvwij->bxuij"), each complex einsum as four real einsums. Layout (b, x, v, i, j, 2):
batch, flattened sites, channels, matrix indices, real/imaginary part. Same architecture as ours:
GEBL(1->32), GEReLU, TrNorm, GEBL(32->16), GEReLU, TrNorm, GEBL(16->8), GEReLU, TrNorm, Trace,
Linear(16->1); 153,217 parameters in 2D.

Usage: python geblnet_torch.py --bands 4 --grid 5 --batch 32 --steps 5 --threads 2
Prints one JSON line: samples per second of the training step (forward, L1 loss on the
per-plaquette labels, backward, Adam) and the peak resident memory of the process.
"""
import argparse
import json
import math
import resource
import time

import torch


def cmul_einsum(pattern, a, b):
    ar, ai = a[..., 0], a[..., 1]
    br, bi = b[..., 0], b[..., 1]
    re = torch.einsum(pattern, ar, br) - torch.einsum(pattern, ai, bi)
    im = torch.einsum(pattern, ar, bi) + torch.einsum(pattern, ai, br)
    return torch.stack((re, im), dim=-1)


def adjoint(w):
    w = w.transpose(-2, -3).clone()
    w[..., 1] = -w[..., 1]
    return w


class GEBL(torch.nn.Module):
    def __init__(self, n_in, n_out, n):
        super().__init__()
        c = 2 * n_in + 1
        self.weight = torch.nn.Parameter(torch.randn(n_out, c, c, 2) / (2 * c))
        eye = torch.eye(n)
        self.register_buffer("unit", torch.stack((eye, torch.zeros_like(eye)), dim=-1))

    def forward(self, w):
        unit = self.unit.expand(w.shape[0], w.shape[1], 1, *self.unit.shape)
        x = torch.cat((w, adjoint(w), unit), dim=2)
        pairs = cmul_einsum("bxvij,bxwjk->bxvwik", x, x)
        return cmul_einsum("uvw,bxvwij->bxuij", self.weight, pairs)


def trace(w):
    return torch.einsum("bxwiic->bxwc", w)


def gerelu(w):
    gate = torch.relu(trace(w)[..., 0])
    return torch.einsum("bxw,bxwijc->bxwijc", gate, w)


def trnorm(w, threshold=1e-3):
    m = torch.linalg.norm(trace(w).mean(dim=2), dim=-1).clamp(min=threshold)
    return torch.einsum("bx,bxvijc->bxvijc", 1.0 / m, w)


class GEBLNet(torch.nn.Module):
    def __init__(self, n, channels=(32, 16, 8)):
        super().__init__()
        chans = (1,) + tuple(channels)
        self.layers = torch.nn.ModuleList(GEBL(a, b, n) for a, b in zip(chans[:-1], chans[1:]))
        self.dense = torch.nn.Linear(2 * chans[-1], 1)

    def forward(self, w):
        b, x = w.shape[0], w.shape[1]
        for layer in self.layers:
            w = trnorm(gerelu(layer(w)))
        t = trace(w) / w.shape[-2]
        return self.dense(t.reshape(b * x, -1)).reshape(b, x)


def haar(shape, n):
    a = torch.randn(*shape, n, n, dtype=torch.complex64)
    q, r = torch.linalg.qr(a)
    d = torch.diagonal(r, dim1=-2, dim2=-1)
    return q * (d / d.abs()).conj().unsqueeze(-2)


def sample(batch, grid, n):
    u = haar((batch, 2, grid, grid), n)
    ux, uy = u[:, 0], u[:, 1]
    h = lambda m: m.conj().transpose(-1, -2)
    w = ux @ torch.roll(uy, -1, 1) @ h(torch.roll(ux, -1, 2)) @ h(uy)
    labels = torch.angle(torch.linalg.eigvals(w)).sum(-1) / (2 * math.pi)
    w = w.reshape(batch, grid * grid, 1, n, n)
    return torch.stack((w.real, w.imag), dim=-1).contiguous(), labels.reshape(batch, -1).float()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bands", type=int, default=4)
    p.add_argument("--grid", type=int, default=5)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    net = GEBLNet(a.bands)
    params = sum(t.numel() for t in net.parameters())
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    w, labels = sample(a.batch, a.grid, a.bands)

    def step():
        opt.zero_grad()
        loss = (net(w) - labels).abs().mean()
        loss.backward()
        opt.step()
        return loss.item()

    step()
    start = time.perf_counter()
    for _ in range(a.steps):
        step()
    secs = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({
        "impl": "pytorch-public-code-style", "torch": torch.__version__, "bands": a.bands, "grid": a.grid,
        "batch": a.batch, "threads": a.threads, "steps": a.steps, "parameters": params,
        "seconds_per_step": secs / a.steps, "samples_per_second": a.steps * a.batch / secs,
        "peak_rss_bytes": peak,
    }))


if __name__ == "__main__":
    main()
