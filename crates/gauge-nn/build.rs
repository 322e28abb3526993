//! libtorch on cargo's run-time library path for this crate and its dependents, and
//! `libtorch_cuda` kept linked for a CUDA libtorch (see the `torch-build` crate).
fn main() {
    torch_build::libtorch_on_run_path();
    torch_build::keep_libtorch_cuda();
}
