//! Keeps `libtorch_cuda` linked into chernet's examples, tests and benches when `LIBTORCH` holds a
//! CUDA libtorch (the one `CHERNET_TORCH=cuda make setup` installs); a CPU libtorch changes
//! nothing. The reason and the logic live in the `torch-build` crate.
fn main() {
    torch_build::keep_libtorch_cuda();
}
