//! Readers: round trips through .npy, .npz (stored and compressed), safetensors and JSON, and
//! errors that name the file and the field instead of panicking.

use std::path::PathBuf;

use ensemble_uq::{Error, FloatArray3, read_array3, read_labels, split_field};
use ndarray::{Array1, Array3};
use ndarray_npy::{NpzWriter, WriteNpyExt};
use safetensors::tensor::{Dtype, TensorView};

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ensemble-uq-io-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn sample32() -> Array3<f32> {
    Array3::from_shape_fn((2, 3, 4), |(m, i, k)| {
        (m * 12 + i * 4 + k) as f32 * 0.25 - 1.0
    })
}

#[test]
fn npy_float32_float64_and_integer_labels() {
    let d = dir("npy");
    let a = sample32();
    a.write_npy(std::fs::File::create(d.join("a32.npy")).unwrap())
        .unwrap();
    a.mapv(f64::from)
        .write_npy(std::fs::File::create(d.join("a64.npy")).unwrap())
        .unwrap();
    assert_eq!(
        read_array3(d.join("a32.npy"), None).unwrap(),
        FloatArray3::F32(a.clone())
    );
    assert_eq!(
        read_array3(d.join("a64.npy"), None).unwrap(),
        FloatArray3::F64(a.mapv(f64::from))
    );
    Array1::from(vec![0u8, 3, 2])
        .write_npy(std::fs::File::create(d.join("y8.npy")).unwrap())
        .unwrap();
    Array1::from(vec![0i32, -1, 2])
        .write_npy(std::fs::File::create(d.join("y32.npy")).unwrap())
        .unwrap();
    Array1::from(vec![7i64, 1, 2])
        .write_npy(std::fs::File::create(d.join("y64.npy")).unwrap())
        .unwrap();
    assert_eq!(read_labels(d.join("y8.npy"), None).unwrap(), vec![0, 3, 2]);
    assert_eq!(
        read_labels(d.join("y32.npy"), None).unwrap(),
        vec![0, -1, 2]
    );
    assert_eq!(read_labels(d.join("y64.npy"), None).unwrap(), vec![7, 1, 2]);

    // Float labels, 2-D "members", missing files and garbage: errors naming the file.
    Array1::from(vec![0.0f64, 1.0])
        .write_npy(std::fs::File::create(d.join("yf.npy")).unwrap())
        .unwrap();
    let e = read_labels(d.join("yf.npy"), None).unwrap_err();
    assert!(
        matches!(&e, Error::Format { path, .. } if path.ends_with("yf.npy")),
        "{e}"
    );
    assert!(e.to_string().contains("<f8"), "{e}");
    let e = read_array3(d.join("y64.npy"), None).unwrap_err();
    assert!(
        e.to_string()
            .contains("'<i8' (member arrays must be float32"),
        "{e}"
    );
    Array1::from(vec![0.5f32, 1.0])
        .write_npy(std::fs::File::create(d.join("v.npy")).unwrap())
        .unwrap();
    let e = read_array3(d.join("v.npy"), None).unwrap_err();
    assert!(e.to_string().contains("1 dimensions, expected 3"), "{e}");
    assert!(matches!(
        read_array3(d.join("absent.npy"), None),
        Err(Error::Io { .. })
    ));
    std::fs::write(d.join("junk.npy"), b"not an npy file").unwrap();
    assert!(matches!(
        read_array3(d.join("junk.npy"), None),
        Err(Error::Format { .. })
    ));
    assert!(matches!(
        read_array3(d.join("x.csv"), None),
        Err(Error::Format { .. })
    ));
}

/// Arrays of several read chunks, little- or big-endian, go through the parallel reader;
/// Fortran-order files through ndarray-npy's sequential one; truncated or padded files are
/// errors, not panics.
#[test]
fn npy_large_big_endian_fortran_and_truncated() {
    let d = dir("npy-large");
    // 2.4 MB of float32 (3 chunks) and 4.8 MB of float64, values unique per position.
    let a = Array3::from_shape_fn((3, 50_000, 4), |(m, i, k)| {
        (m as f32 * 1e5 + i as f32) * 0.5 - k as f32
    });
    a.write_npy(std::fs::File::create(d.join("big32.npy")).unwrap())
        .unwrap();
    assert_eq!(
        read_array3(d.join("big32.npy"), None).unwrap(),
        FloatArray3::F32(a.clone())
    );
    let b = a.mapv(|v| f64::from(v) + 1e-9);
    b.write_npy(std::fs::File::create(d.join("big64.npy")).unwrap())
        .unwrap();
    assert_eq!(
        read_array3(d.join("big64.npy"), None).unwrap(),
        FloatArray3::F64(b.clone())
    );
    // Fortran order: same logical array.
    let f = b.t().as_standard_layout().into_owned().reversed_axes();
    assert!(!f.is_standard_layout());
    f.write_npy(std::fs::File::create(d.join("fortran.npy")).unwrap())
        .unwrap();
    match read_array3(d.join("fortran.npy"), None).unwrap() {
        FloatArray3::F64(r) => assert_eq!(r, b),
        other => panic!("unexpected {other:?}"),
    }
    // Big-endian float32: rewrite the descriptor and swap every value's bytes.
    let bytes = std::fs::read(d.join("big32.npy")).unwrap();
    let header_len = bytes.len() - a.len() * 4;
    let mut be = bytes[..header_len].to_vec();
    let at = be.windows(3).position(|w| w == b"<f4").unwrap();
    be[at] = b'>';
    for v in bytes[header_len..].chunks_exact(4) {
        be.extend(v.iter().rev());
    }
    std::fs::write(d.join("be.npy"), &be).unwrap();
    assert_eq!(
        read_array3(d.join("be.npy"), None).unwrap(),
        FloatArray3::F32(a.clone())
    );
    // Truncated and padded files.
    std::fs::write(d.join("short.npy"), &bytes[..bytes.len() - 3]).unwrap();
    let e = read_array3(d.join("short.npy"), None).unwrap_err();
    assert!(
        matches!(&e, Error::Format { path, .. } if path.ends_with("short.npy")),
        "{e}"
    );
    let mut long = bytes.clone();
    long.extend([0u8; 8]);
    std::fs::write(d.join("long.npy"), &long).unwrap();
    assert!(matches!(
        read_array3(d.join("long.npy"), None),
        Err(Error::Format { .. })
    ));
}

#[test]
fn npz_by_name_and_by_rank() {
    let d = dir("npz");
    let a = sample32();
    for (file, compressed) in [("s.npz", false), ("c.npz", true)] {
        let f = std::fs::File::create(d.join(file)).unwrap();
        let mut w = if compressed {
            NpzWriter::new_compressed(f)
        } else {
            NpzWriter::new(f)
        };
        w.add_array("logits", &a).unwrap();
        w.add_array("labels", &Array1::from(vec![1i64, 0, 3]))
            .unwrap();
        w.finish().unwrap();
        let p = d.join(file);
        assert_eq!(read_array3(&p, None).unwrap(), FloatArray3::F32(a.clone()));
        assert_eq!(
            read_array3(&p, Some("logits")).unwrap(),
            FloatArray3::F32(a.clone())
        );
        assert_eq!(read_labels(&p, None).unwrap(), vec![1, 0, 3]);
        let e = read_array3(&p, Some("probs")).unwrap_err();
        assert!(
            matches!(&e, Error::Format { field, .. } if field == "probs"),
            "{e}"
        );
        let e = read_array3(&p, Some("labels")).unwrap_err();
        assert!(e.to_string().contains("labels"), "{e}");
    }
    // Two 3-D arrays: ambiguous unless named.
    let f = std::fs::File::create(d.join("two.npz")).unwrap();
    let mut w = NpzWriter::new(f);
    w.add_array("a", &a).unwrap();
    w.add_array("b", &a).unwrap();
    w.finish().unwrap();
    let e = read_array3(d.join("two.npz"), None).unwrap_err();
    assert!(e.to_string().contains("ambiguous"), "{e}");
    let (path, field) = split_field(&format!("{}:b", d.join("two.npz").display()));
    assert_eq!(
        read_array3(&path, field.as_deref()).unwrap(),
        FloatArray3::F32(a)
    );
}

#[test]
fn safetensors_tensors_and_labels() {
    let d = dir("st");
    let a = sample32();
    let bytes: Vec<u8> = a.iter().flat_map(|x| x.to_le_bytes()).collect();
    let lab: Vec<u8> = [2i32, 0, 1].iter().flat_map(|x| x.to_le_bytes()).collect();
    let views = vec![
        (
            "probs",
            TensorView::new(Dtype::F32, vec![2, 3, 4], &bytes).unwrap(),
        ),
        (
            "labels",
            TensorView::new(Dtype::I32, vec![3], &lab).unwrap(),
        ),
    ];
    let p = d.join("x.safetensors");
    safetensors::serialize_to_file(views, None, &p).unwrap();
    assert_eq!(read_array3(&p, None).unwrap(), FloatArray3::F32(a));
    assert_eq!(read_labels(&p, None).unwrap(), vec![2, 0, 1]);
    let e = read_array3(&p, Some("labels")).unwrap_err();
    assert!(
        matches!(&e, Error::Format { field, .. } if field == "labels"),
        "{e}"
    );
    // Truncated data: an error, not a panic.
    let full = std::fs::read(&p).unwrap();
    std::fs::write(d.join("cut.safetensors"), &full[..full.len() - 5]).unwrap();
    assert!(read_array3(d.join("cut.safetensors"), None).is_err());
    std::fs::write(d.join("tiny.safetensors"), b"abc").unwrap();
    assert!(read_array3(d.join("tiny.safetensors"), None).is_err());
}

#[test]
fn json_nested_lists_and_pointers() {
    let d = dir("json");
    let p = d.join("x.json");
    std::fs::write(
        &p,
        r#"{"run": {"probs": [[[0.25, 0.75]], [[1.0, 0.0]]]}, "labels": [1], "bad": [[[1, "x"]]]}"#,
    )
    .unwrap();
    let FloatArray3::F64(a) = read_array3(&p, Some("/run/probs")).unwrap() else {
        panic!("float64")
    };
    assert_eq!(a.shape(), &[2, 1, 2]);
    assert_eq!(a[[0, 0, 1]], 0.75);
    assert_eq!(read_labels(&p, Some("labels")).unwrap(), vec![1]);
    let e = read_array3(&p, Some("bad")).unwrap_err();
    assert!(e.to_string().contains("class 1"), "{e}");
    assert!(read_array3(&p, Some("/nope")).is_err());
}

/// A header that declares a shape far larger than the file is refused before anything is
/// allocated, with the declared and the actual size (for member arrays and for labels).
#[test]
fn npy_header_larger_than_the_file_is_refused_up_front() {
    let d = dir("absurd");
    let npy = |shape: &str, descr: &str| {
        let mut header =
            format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&[0u8; 64]);
        bytes
    };
    let members = d.join("huge.npy");
    std::fs::write(&members, npy("(1000000, 1000000, 1000)", "<f4")).unwrap();
    let e = read_array3(&members, None).unwrap_err();
    let text = e.to_string();
    assert!(matches!(&e, Error::Format { path, .. } if path.ends_with("huge.npy")));
    assert!(
        text.contains("4000000000000000 bytes") && text.contains("64 bytes"),
        "{text}"
    );
    let labels = d.join("labels.npy");
    std::fs::write(&labels, npy("(100000000000,)", "<i8")).unwrap();
    let text = read_labels(&labels, None).unwrap_err().to_string();
    assert!(
        text.contains("800000000000 bytes") && text.contains("64 bytes"),
        "{text}"
    );
    // A product past u64 is refused as well.
    let overflow = d.join("overflow.npy");
    std::fs::write(
        &overflow,
        npy("(4294967296, 4294967296, 4294967296)", "<f8"),
    )
    .unwrap();
    let text = read_array3(&overflow, None).unwrap_err().to_string();
    assert!(text.contains("more bytes than can be addressed"), "{text}");
}
