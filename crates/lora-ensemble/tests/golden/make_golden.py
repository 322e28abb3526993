"""Golden files for lora-ensemble from real peft (run through run.sh, which pins the versions).

Writes, next to this script:
  base_f32.safetensors, base_f64.safetensors   the frozen base model's state dict (torch key names)
  <case>/adapter_model.safetensors, <case>/adapter_config.json   saved by peft's save_pretrained
  <case>/expected.safetensors   inputs `x`, peft's forward output `y` (eval mode), and the weights of
                                merge_and_unload() under their base key names, prefixed `merged.`
Cases:
  plain_f32, plain_f64   r = 4, alpha = 8, target_modules = ["proj", "out"] (suffix match), Kaiming A
  rslora_f64             r = 2, alpha = 3, use_rslora, regex target_modules, Gaussian A
Each adapter is trained a few Adam steps so that B != 0. Everything is seeded; a rerun gives the same
bytes on the same versions.

With `--check-reverse DIR`, loads the members of a Rust-saved ensemble DIR (written by the
crate's example `peft_reverse`) into peft and compares peft's outputs with the ones Rust recorded.
"""
import json
import os
import sys

import torch
import torch.nn as nn
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
D_IN, D_HIDDEN, D_OUT, N = 5, 8, 3, 7


class Block(nn.Module):
    def __init__(self, d_in, d):
        super().__init__()
        self.proj = nn.Linear(d_in, d)
        self.out = nn.Linear(d, d, bias=False)

    def forward(self, x):
        h = torch.tanh(self.proj(x))
        return h + self.out(h)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([Block(D_IN, D_HIDDEN), Block(D_HIDDEN, D_HIDDEN)])

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class Net(nn.Module):
    """Module paths: encoder.layers.{0,1}.{proj,out}, head."""

    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.head = nn.Linear(D_HIDDEN, D_OUT)

    def forward(self, x):
        return self.head(self.encoder(x))


def base_model(dtype):
    torch.manual_seed(0)
    net = Net()
    return net.to(dtype)


def train_a_few_steps(model, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    xs = torch.randn(32, D_IN, generator=g).to(dtype)
    ys = torch.randn(32, D_OUT, generator=g).to(dtype)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=0.05)
    model.train()
    for _ in range(5):
        opt.zero_grad()
        loss = ((model(xs) - ys) ** 2).mean()
        loss.backward()
        opt.step()
    model.eval()


def make_case(name, dtype, config, seed):
    out_dir = os.path.join(HERE, name)
    os.makedirs(out_dir, exist_ok=True)
    base = base_model(dtype)
    torch.manual_seed(seed)  # the adapters' initialisation
    model = get_peft_model(base, config)
    train_a_few_steps(model, dtype, seed + 1)
    b_norm = sum(p.abs().sum().item() for n, p in model.named_parameters() if "lora_B" in n)
    assert b_norm > 0, "B stayed zero"
    model.save_pretrained(out_dir)
    os.remove(os.path.join(out_dir, "README.md"))  # peft's model-card template, not needed
    x = torch.randn(N, D_IN, generator=torch.Generator().manual_seed(seed + 2)).to(dtype)
    with torch.no_grad():
        y = model(x)
        merged = model.merge_and_unload()
        y_merged = merged(x)
    tensors = {"x": x.contiguous(), "y": y.contiguous(), "y_merged": y_merged.contiguous()}
    for k, v in merged.state_dict().items():
        tensors["merged." + k] = v.contiguous()
    save_file(tensors, os.path.join(out_dir, "expected.safetensors"))
    print(f"{name}: |B|_1 = {b_norm:.4f}, max |y| = {y.abs().max().item():.4f}, "
          f"max |y - y_merged| = {(y - y_merged).abs().max().item():.3e}")


def write_bases():
    for tag, dtype in (("f32", torch.float32), ("f64", torch.float64)):
        sd = {k: v.contiguous() for k, v in base_model(dtype).state_dict().items()}
        save_file(sd, os.path.join(HERE, f"base_{tag}.safetensors"), metadata={"format": "pt"})


def check_reverse(ens_dir):
    """Loads each Rust-saved member with PeftModel.from_pretrained and compares with Rust's outputs."""
    manifest = json.load(open(os.path.join(ens_dir, "manifest.json")))
    rust = load_file(os.path.join(ens_dir, "rust_outputs.safetensors"))
    x = rust["x"]
    dtype = x.dtype
    worst = 0.0
    for m in range(manifest["members"]):
        model = PeftModel.from_pretrained(base_model(dtype), os.path.join(ens_dir, f"member-{m}"))
        model.eval()
        with torch.no_grad():
            y = model(x)
        y_rust = rust[f"y.{m}"]
        scale = y_rust.abs().max().item()
        err = (y - y_rust).abs().max().item() / scale
        worst = max(worst, err)
        print(f"reverse {ens_dir}: member {m}: max |y_peft - y_rust| / max |y_rust| = {err:.3e} "
              f"(max |y| = {scale:.4f})")
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    if worst > tol:
        sys.exit(f"reverse check failed: {worst:.3e} > {tol:g}")
    print(f"reverse {ens_dir}: all {manifest['members']} members within {tol:g} (worst {worst:.3e})")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--check-reverse":
        check_reverse(sys.argv[2])
        return
    write_bases()
    plain = dict(r=4, lora_alpha=8, target_modules=["proj", "out"], lora_dropout=0.0)
    make_case("plain_f32", torch.float32, LoraConfig(**plain), seed=10)
    make_case("plain_f64", torch.float64, LoraConfig(**plain), seed=20)
    make_case("rslora_f64", torch.float64,
              LoraConfig(r=2, lora_alpha=3, use_rslora=True, init_lora_weights="gaussian",
                         target_modules=r".*layers\.\d+\.proj|head"), seed=30)
    print("torch", torch.__version__, "peft", __import__("peft").__version__)


if __name__ == "__main__":
    main()
