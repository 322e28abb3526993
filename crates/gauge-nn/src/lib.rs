//! Gauge-equivariant networks (in progress).
#[cfg(test)]
mod tests {
    #[test]
    fn libtorch_runs() {
        let t = tch::Tensor::from_slice(&[1.0f64, 2.0, 3.0]);
        assert_eq!(t.sum(tch::Kind::Double).double_value(&[]), 6.0);
    }
}
